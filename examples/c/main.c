/* meshseal from C: seals and opens the frozen test vectors through meshseal.h and checks
 * them byte for byte, then runs a sender and a recipient with a persistent counter and checks
 * that a sender boots from an empty counter store only when provisioned explicitly, that it
 * resumes after its reservation on reboot, and that a replayed frame and a tampered frame are
 * refused with their result codes. Every vector but fragments and challenges is sealed twice:
 * through its own entry point and through meshseal_seal_with. Then the options calls
 * (meshseal_seal_with, meshseal_open_with) in every combination the frame format has, and
 * their invalid values refused.
 *
 * Vectors arrive on stdin, one per line (written by the test from compact-v1.json):
 *   G <secret> <salt|-> <group_id> <epoch> <key> <iv>
 *   F <sender> <implicit> <seq> <reference|-> <kind> <arg1> <arg2> <payload|-> <frame>
 * kind: plain, timed (arg1 = time), fragment (arg1 = index, arg2 = count),
 *       response/challenge/echo (arg1 = bound sender, arg2 = bound seq).
 * Exit status 0 only when every check passed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "meshseal.h"

static int failures;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (!(cond)) {                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fprintf(stderr, "\n");                         \
            failures++;                                    \
        }                                                  \
    } while (0)

#define EXPECT_RESULT(got, want, what)                                           \
    CHECK((got) == (want), "%s: got %s (%d), want %s (%d)", what,               \
          meshseal_result_name(got), (int)(got), meshseal_result_name(want), (int)(want))

/* A counter "flash": what the store callback persisted, and whether writes fail. */
typedef struct {
    int present;
    uint64_t limit;
    unsigned writes;
    int fail;
} counter_flash;

static int32_t flash_load(void *user, uint64_t *limit) {
    counter_flash *f = user;
    if (f->fail) return -1;
    if (!f->present) return 0;
    *limit = f->limit;
    return 1;
}

static int32_t flash_store(void *user, uint64_t limit) {
    counter_flash *f = user;
    if (f->fail) return -1;
    f->present = 1;
    f->limit = limit;
    f->writes++;
    return 0;
}

static size_t unhex(const char *s, uint8_t *out, size_t cap) {
    if (strcmp(s, "-") == 0) return 0;
    size_t n = strlen(s) / 2;
    if (n > cap) { fprintf(stderr, "hex too long\n"); exit(2); }
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) { fprintf(stderr, "bad hex\n"); exit(2); }
        out[i] = (uint8_t)v;
    }
    return n;
}

static MeshsealKeys keys;
static MeshsealRecipient rx;
static MeshsealSender tx;

/* Whether the current group masks its headers (spec §20). */
static int group_private;

/* "G secret salt group epoch key iv [privacy_key]": a group of the vectors; with a privacy key,
 * a group with header privacy. */
static void group_line(char *line) {
    char secret_h[160], salt_h[160], key_h[40], iv_h[40], pk_h[40] = "-";
    unsigned long group_id;
    unsigned epoch;
    int fields = sscanf(line, "G %159s %159s %lu %u %39s %39s %39s", secret_h, salt_h, &group_id,
                        &epoch, key_h, iv_h, pk_h);
    if (fields != 6 && fields != 7) {
        fprintf(stderr, "bad group line\n");
        exit(2);
    }
    uint8_t secret[64], salt[64], key[16], iv[13], pk[16];
    size_t secret_len = unhex(secret_h, secret, sizeof secret);
    size_t salt_len = unhex(salt_h, salt, sizeof salt);
    unhex(key_h, key, sizeof key);
    unhex(iv_h, iv, sizeof iv);
    group_private = unhex(pk_h, pk, sizeof pk) == 16;
    MeshsealResult r = meshseal_derive_with(secret, secret_len, salt_len ? salt : NULL, salt_len,
                                            (uint32_t)group_id, (uint16_t)epoch,
                                            (uint8_t)group_private, &keys);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "derive");
    CHECK(memcmp(keys.key, key, 16) == 0, "derived key differs");
    CHECK(memcmp(keys.iv, iv, 13) == 0, "derived iv differs");
    CHECK(keys.privacy == group_private, "privacy flag %u", keys.privacy);
    if (group_private) CHECK(memcmp(keys.privacy_key, pk, 16) == 0, "derived privacy key differs");
    MeshsealRecipientConfig rcfg = meshseal_recipient_config_default(0, UINT32_MAX);
    meshseal_recipient_clear(&rx);
    if (group_private) {
        r = meshseal_recipient_init(&rx, &keys, &rcfg);
    } else {
        r = meshseal_recipient_init_secret(&rx, secret, secret_len, salt_len ? salt : NULL,
                                           salt_len, (uint32_t)group_id, (uint16_t)epoch, &rcfg);
    }
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "recipient init");
}

static int frame_line(char *line) {
    unsigned long sender, arg1, arg2;
    unsigned implicit;
    unsigned long long seq;
    char ref_s[32], kind[16], payload_h[600], frame_h[700];
    if (sscanf(line, "F %lu %u %llu %31s %15s %lu %lu %599s %699s", &sender, &implicit, &seq,
               ref_s, kind, &arg1, &arg2, payload_h, frame_h) != 9) {
        fprintf(stderr, "bad frame line\n");
        exit(2);
    }
    uint8_t payload[300], expected[350], out[400];
    size_t payload_len = unhex(payload_h, payload, sizeof payload);
    size_t expected_len = unhex(frame_h, expected, sizeof expected);
    int has_ref = strcmp(ref_s, "-") != 0;
    uint64_t reference = has_ref ? strtoull(ref_s, NULL, 10) : 0;

    /* Seal: a sender booted at `seq` through the load callback. */
    counter_flash flash = {1, seq, 0, 0};
    MeshsealSenderConfig cfg = meshseal_sender_config_default((uint32_t)sender);
    cfg.implicit_sender = (uint8_t)implicit;
    cfg.length_mode = MESHSEAL_LENGTH_CONFIRMED;
    cfg.full_every = 1000;
    MeshsealResult r = meshseal_sender_init(&tx, &keys, &cfg, flash_load, flash_store, &flash);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "sender init");
    if (has_ref) meshseal_sender_confirm(&tx, reference);
    size_t n = 0;
    const uint8_t *p = payload_len ? payload : NULL;
    int bound = 0;
    unsigned copies = 0, window = 0;
    if (strcmp(kind, "plain") == 0) {
        r = meshseal_seal(&tx, p, payload_len, out, sizeof out, &n);
    } else if (strcmp(kind, "timed") == 0) {
        r = meshseal_seal_timed(&tx, p, payload_len, (uint16_t)arg1, out, sizeof out, &n);
    } else if (sscanf(kind, "repeated-%u-%u", &copies, &window) == 2) {
        /* "repeated-C-W": a timed command announced as C copies over W time units. */
        MeshsealSeal opts = meshseal_seal_options_default();
        opts.has_time = 1;
        opts.time = (uint16_t)arg1;
        opts.has_repeat = 1;
        opts.repeat_copies = (uint8_t)copies;
        opts.repeat_window = (uint8_t)window;
        r = meshseal_seal_with(&tx, p, payload_len, &opts, out, sizeof out, &n);
    } else if (strcmp(kind, "fragment") == 0) {
        r = meshseal_seal_fragment(&tx, p, payload_len, (uint8_t)arg1, (uint8_t)arg2, out,
                                   sizeof out, &n);
    } else if (strcmp(kind, "response") == 0) {
        bound = 1;
        r = meshseal_seal_response(&tx, p, payload_len, (uint32_t)arg1, arg2, out, sizeof out, &n);
    } else if (strcmp(kind, "challenge") == 0) {
        bound = 1;
        r = meshseal_seal_challenge(&tx, (uint32_t)arg1, arg2, out, sizeof out, &n);
    } else if (strcmp(kind, "echo") == 0) {
        bound = 1;
        r = meshseal_seal_echo(&tx, p, payload_len, (uint32_t)arg1, arg2, out, sizeof out, &n);
    } else {
        fprintf(stderr, "unknown kind %s\n", kind);
        exit(2);
    }
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, kind);
    CHECK(n == expected_len && memcmp(out, expected, n) == 0, "seal %s seq %llu: frame differs",
          kind, seq);
    CHECK(flash.writes == 1 && flash.limit > seq, "reservation not persisted before use");
    meshseal_sender_clear(&tx);

    /* The same frame through the options call (NULL options for a plain frame), from a sender
     * booted the same way. */
    if (strcmp(kind, "fragment") != 0 && strcmp(kind, "challenge") != 0 && copies == 0) {
        counter_flash again = {1, seq, 0, 0};
        r = meshseal_sender_init(&tx, &keys, &cfg, flash_load, flash_store, &again);
        EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "sender init for the options call");
        if (has_ref) meshseal_sender_confirm(&tx, reference);
        MeshsealSeal opts = meshseal_seal_options_default();
        const MeshsealSeal *how = &opts;
        if (strcmp(kind, "plain") == 0) {
            how = NULL;
        } else if (strcmp(kind, "timed") == 0) {
            opts.has_time = 1;
            opts.time = (uint16_t)arg1;
        } else {
            opts.binding = strcmp(kind, "echo") == 0 ? MESHSEAL_BINDING_ECHO
                                                     : MESHSEAL_BINDING_RESPONSE;
            opts.bound = (MeshsealFrameId){(uint32_t)arg1, arg2};
        }
        uint8_t with[400];
        size_t wn = 0;
        r = meshseal_seal_with(&tx, p, payload_len, how, with, sizeof with, &wn);
        EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal_with");
        CHECK(wn == expected_len && memcmp(with, expected, wn) == 0,
              "seal_with %s seq %llu: frame differs", kind, seq);
        meshseal_sender_clear(&tx);
    }

    /* Open, reconstructing the number near the reference as a receiver in step would. */
    uint8_t buf[350];
    memcpy(buf, expected, expected_len);
    MeshsealOpened o;
    uint64_t near = has_ref ? reference + 1 : 0;
    r = meshseal_verify_stateless(&rx, buf, expected_len, (uint8_t)implicit, (uint32_t)sender,
                                  near, (uint8_t)bound, (uint32_t)arg1, arg2, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "open vector");
    CHECK(o.sender == sender && o.seq == seq, "opened id differs");
    CHECK(o.payload_len == payload_len &&
              memcmp(buf + o.payload_offset, payload, payload_len) == 0,
          "opened payload differs");

    /* The same frame with its last tag byte flipped is refused, and nothing is released. */
    memcpy(buf, expected, expected_len);
    buf[expected_len - 1] ^= 0x01;
    r = meshseal_verify_stateless(&rx, buf, expected_len, (uint8_t)implicit, (uint32_t)sender,
                                  near, (uint8_t)bound, (uint32_t)arg1, arg2, &o);
    if (group_private) {
        /* The tag is the mask's input: a changed tag unmasks to another header, refused as
         * whatever that header is (malformed, unknown sender, bad tag). */
        CHECK(r > 0, "tampered private vector: got %s (%d)", meshseal_result_name(r), (int)r);
    } else {
        EXPECT_RESULT(r, MESHSEAL_RESULT_BAD_TAG, "tampered vector");
    }
    return 1;
}

/* A sender and a recipient in a provisioned group: provisioning, persistence, replay,
 * tampering. */
static void session(void) {
    static const uint8_t secret[32] = {0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                       0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                       0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
                                       0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42};
    counter_flash flash = {0, 0, 0, 0};
    MeshsealSenderConfig cfg = meshseal_sender_config_default(1);
    cfg.reservation_block = 10;
    const char *msg = "lamp on";
    uint8_t frame[64], copy[64], first[64];
    size_t n = 0, first_len = 0;

    /* An ordinary boot from a store with no record is refused: this could be an identity whose
     * record was lost, and starting it at 0 would repeat nonces. Nothing is written and no
     * context comes up. */
    MeshsealResult r = meshseal_sender_init_secret(&tx, secret, sizeof secret, NULL, 0, 7, 0, &cfg,
                                                   flash_load, flash_store, &flash);
    EXPECT_RESULT(r, MESHSEAL_RESULT_NO_COUNTER_RECORD, "init on an empty counter store");
    CHECK((int)r == 24, "NO_COUNTER_RECORD is code %d, want 24", (int)r);
    CHECK(strcmp(meshseal_result_name(r), "no_counter_record") == 0, "name %s",
          meshseal_result_name(r));
    r = meshseal_sender_init(&tx, &keys, &cfg, flash_load, flash_store, &flash);
    EXPECT_RESULT(r, MESHSEAL_RESULT_NO_COUNTER_RECORD, "init from keys on an empty store");
    CHECK(!flash.present && flash.writes == 0, "a refused init wrote the counter store");
    r = meshseal_seal(&tx, (const uint8_t *)msg, strlen(msg), frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_NOT_INITIALIZED, "seal after a refused init");
    flash.fail = 1;
    r = meshseal_sender_provision_secret(&tx, secret, sizeof secret, NULL, 0, 7, 0, &cfg,
                                         flash_load, flash_store, &flash);
    EXPECT_RESULT(r, MESHSEAL_RESULT_COUNTER_STORE, "provision with a failing store");
    flash.fail = 0;

    /* Provisioning, the explicit statement that this identity never sealed: a first record
     * (limit 0) is stored, and the sender starts at 0. */
    r = meshseal_sender_provision_secret(&tx, secret, sizeof secret, NULL, 0, 7, 0, &cfg,
                                         flash_load, flash_store, &flash);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "provision from secret");
    CHECK(flash.present && flash.limit == 0 && flash.writes == 1, "first record");
    uint64_t next = UINT64_MAX, remaining = 0;
    meshseal_sender_counter(&tx, &next, NULL);
    CHECK(next == 0, "provisioned sender starts at %" PRIu64, next);
    MeshsealRecipientConfig rcfg = meshseal_recipient_config_default(1, 10);
    rcfg.has_own_id = 1;
    rcfg.own_id = 2;
    r = meshseal_recipient_init_secret(&rx, secret, sizeof secret, NULL, 0, 7, 0, &rcfg);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "recipient init");
    meshseal_recipient_provision(&rx, 1);

    r = meshseal_seal(&tx, (const uint8_t *)msg, strlen(msg), frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal");
    CHECK(flash.present && flash.limit == 10 && flash.writes == 2, "first reservation");
    memcpy(copy, frame, n);
    memcpy(first, frame, n);
    first_len = n;

    MeshsealOpened o;
    r = meshseal_open(&rx, frame, n, MESHSEAL_CLASS_ACTUATION, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "open");
    CHECK(o.payload_len == strlen(msg) && memcmp(frame + o.payload_offset, msg, o.payload_len) == 0,
          "payload");
    CHECK(o.sender == 1 && o.seq == 0 && o.freshness == MESHSEAL_FRESHNESS_FRESH, "opened info");

    /* The same frame again: a replay. */
    r = meshseal_open(&rx, copy, n, MESHSEAL_CLASS_TELEMETRY, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_REPLAY, "replayed frame");

    /* A new frame with one ciphertext bit flipped: bad tag, and its bytes wiped. */
    r = meshseal_seal(&tx, (const uint8_t *)msg, strlen(msg), frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal 2");
    frame[n - 9] ^= 0x80;
    r = meshseal_open(&rx, frame, n, MESHSEAL_CLASS_TELEMETRY, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_BAD_TAG, "tampered frame");
    int wiped = 1;
    for (size_t i = n - 8 - strlen(msg); i < n - 8; i++) wiped &= frame[i] == 0;
    CHECK(wiped, "refused ciphertext not wiped");

    /* Statistics count each outcome under its reason. */
    MeshsealStats st;
    r = meshseal_recipient_stats(&rx, &st);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "stats");
    CHECK(st.accepted == 1, "accepted %" PRIu64, st.accepted);
    CHECK(st.refused[MESHSEAL_RESULT_REPLAY - 1] == 1, "replay count");
    CHECK(st.refused[MESHSEAL_RESULT_BAD_TAG - 1] == 1, "bad tag count");
    CHECK(st.refused_total == 2, "refused total %" PRIu64, st.refused_total);

    /* Too small an output buffer uses no number. */
    meshseal_sender_counter(&tx, &next, NULL);
    r = meshseal_seal(&tx, (const uint8_t *)msg, strlen(msg), frame, 4, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_BUFFER_TOO_SMALL, "small buffer");
    uint64_t after = 0;
    meshseal_sender_counter(&tx, &after, &remaining);
    CHECK(after == next && n == 0, "a refused seal consumed a number");

    /* Reboot: the counter resumes after the persisted reservation, never below it (numbers
     * 0 and 1 were used, 2..9 were reserved and are skipped). Provisioning again by mistake
     * resumes the same way, and writes nothing. */
    unsigned writes = flash.writes;
    meshseal_sender_clear(&tx);
    r = meshseal_sender_provision_secret(&tx, secret, sizeof secret, NULL, 0, 7, 0, &cfg,
                                         flash_load, flash_store, &flash);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "provision again");
    meshseal_sender_counter(&tx, &next, NULL);
    CHECK(next == 10 && flash.writes == writes, "provisioning again restarted at %" PRIu64,
          next);
    meshseal_sender_clear(&tx);
    r = meshseal_sender_init_secret(&tx, secret, sizeof secret, NULL, 0, 7, 0, &cfg, flash_load,
                                    flash_store, &flash);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "reboot");
    meshseal_sender_counter(&tx, &next, NULL);
    CHECK(next == 10, "resumed at %" PRIu64, next);
    CHECK(flash.writes == writes, "a reboot wrote the counter store");

    /* The first frame after the reboot carries a number never used before: the recipient
     * accepts it as new, and the frame from before the reboot is still a replay. */
    r = meshseal_seal(&tx, (const uint8_t *)msg, strlen(msg), frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal after reboot");
    CHECK(flash.limit == 20 && flash.writes == writes + 1, "reservation after reboot");
    r = meshseal_open(&rx, frame, n, MESHSEAL_CLASS_ACTUATION, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "open after reboot");
    CHECK(o.seq == 10 && o.freshness == MESHSEAL_FRESHNESS_FRESH, "seq %" PRIu64 " after reboot",
          o.seq);
    memcpy(copy, first, first_len);
    r = meshseal_open(&rx, copy, first_len, MESHSEAL_CLASS_TELEMETRY, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_REPLAY, "pre-reboot frame after reboot");

    /* A failing store: no frame, the reason says why. */
    flash.fail = 1;
    r = MESHSEAL_RESULT_OK;
    for (int i = 0; i < 10 && r == MESHSEAL_RESULT_OK; i++)
        r = meshseal_seal(&tx, (const uint8_t *)msg, strlen(msg), frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_COUNTER_STORE, "failing counter store");
    flash.fail = 0;

    /* A reflected frame: a sender claiming the receiver's own id. */
    MeshsealSender tx2;
    counter_flash flash2 = {0, 0, 0, 0};
    MeshsealSenderConfig cfg2 = meshseal_sender_config_default(2);
    r = meshseal_sender_provision_secret(&tx2, secret, sizeof secret, NULL, 0, 7, 0, &cfg2,
                                         flash_load, flash_store, &flash2);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "sender 2");
    r = meshseal_seal(&tx2, (const uint8_t *)msg, strlen(msg), frame, sizeof frame, &n);
    r = meshseal_open(&rx, frame, n, MESHSEAL_CLASS_TELEMETRY, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_REFLECTED, "reflected frame");
    meshseal_sender_clear(&tx2);

    /* API misuse is refused, never undefined. */
    MeshsealSender fresh;
    memset(&fresh, 0, sizeof fresh);
    r = meshseal_seal(&fresh, (const uint8_t *)msg, 1, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_NOT_INITIALIZED, "uninitialized sender");
    r = meshseal_seal(NULL, (const uint8_t *)msg, 1, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_NULL_POINTER, "null sender");
    r = meshseal_seal(&tx, NULL, 5, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_NULL_POINTER, "null payload");
    r = meshseal_seal(&tx, frame, 8, frame + 4, 40, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_BAD_ARGUMENT, "overlapping buffers");
    r = meshseal_open(&rx, frame, n, 9, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_BAD_ARGUMENT, "unknown class");
    r = meshseal_open(&rx, frame, 3, MESHSEAL_CLASS_TELEMETRY, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_MALFORMED, "truncated frame");
    static MeshsealSender blocks[2];
    MeshsealSender *misaligned = (MeshsealSender *)((char *)&blocks[0] + 4);
    r = meshseal_sender_init_secret(misaligned, secret, sizeof secret, NULL, 0, 7, 0, &cfg,
                                    flash_load, flash_store, &flash);
    EXPECT_RESULT(r, MESHSEAL_RESULT_MISALIGNED, "misaligned context");
    r = meshseal_sender_init_secret(&blocks[1], secret, 8, NULL, 0, 7, 0, &cfg, flash_load,
                                    flash_store, &flash);
    EXPECT_RESULT(r, MESHSEAL_RESULT_INVALID_CONFIG, "short master secret");
    MeshsealSenderConfig bad = cfg;
    bad.full_every = 0;
    r = meshseal_sender_init_secret(&blocks[1], secret, sizeof secret, NULL, 0, 7, 0, &bad,
                                    flash_load, flash_store, &flash);
    EXPECT_RESULT(r, MESHSEAL_RESULT_INVALID_CONFIG, "full_every 0");
    r = meshseal_sender_init_secret(&blocks[1], secret, sizeof secret, NULL, 0, 7, 0, &cfg, NULL,
                                    flash_store, &flash);
    EXPECT_RESULT(r, MESHSEAL_RESULT_NULL_POINTER, "missing load callback");
    CHECK(strcmp(meshseal_result_name(MESHSEAL_RESULT_REPLAY), "replay") == 0, "reason name");
    CHECK(strcmp(meshseal_result_name(12345), "unknown") == 0, "unknown code name");
    CHECK(meshseal_peer_size() == 24, "peer size %zu", meshseal_peer_size());
    CHECK(meshseal_sender_size() <= sizeof(MeshsealSender), "sender size");
    CHECK(meshseal_recipient_size() <= sizeof(MeshsealRecipient), "recipient size");

    meshseal_sender_clear(&tx);
    meshseal_recipient_clear(&rx);
    r = meshseal_open(&rx, copy, n, MESHSEAL_CLASS_TELEMETRY, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_NOT_INITIALIZED, "cleared recipient");
}

/* Freshness for actuation: a receiver without verified state for the sender refuses the
 * command as stale, challenges it, and accepts the echo bound to its challenge. */
static void challenge_round(void) {
    static const uint8_t secret[16] = "0123456789abcdef";
    static MeshsealSender lamp_tx, ctl_tx;
    static MeshsealRecipient lamp_rx, ctl_rx;
    counter_flash f1 = {0, 0, 0, 0}, f2 = {0, 0, 0, 0};
    MeshsealSenderConfig c1 = meshseal_sender_config_default(1), c2 = meshseal_sender_config_default(2);
    MeshsealRecipientConfig r1 = meshseal_recipient_config_default(1, 2), r2 = r1;
    r1.has_own_id = 1;
    r1.own_id = 1;
    r2.has_own_id = 1;
    r2.own_id = 2;
    MeshsealResult r = meshseal_sender_provision_secret(&ctl_tx, secret, 16, NULL, 0, 9, 1, &c1,
                                                        flash_load, flash_store, &f1);
    r |= meshseal_recipient_init_secret(&ctl_rx, secret, 16, NULL, 0, 9, 1, &r1);
    r |= meshseal_sender_provision_secret(&lamp_tx, secret, 16, NULL, 0, 9, 1, &c2, flash_load,
                                          flash_store, &f2);
    r |= meshseal_recipient_init_secret(&lamp_rx, secret, 16, NULL, 0, 9, 1, &r2);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "challenge set-up");

    const uint8_t cmd[] = "unlock";
    uint8_t frame[64], challenge[64];
    size_t n = 0, cn = 0;
    MeshsealOpened o;
    r = meshseal_seal(&ctl_tx, cmd, sizeof cmd, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal command");
    r = meshseal_open(&lamp_rx, frame, n, MESHSEAL_CLASS_ACTUATION, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_STALE, "command without verified state");
    uint32_t req_sender = 0;
    uint64_t req_seq = 99;
    r = meshseal_recipient_last_stale(&lamp_rx, &req_sender, &req_seq);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "last stale");
    CHECK(req_sender == 1 && req_seq == 0, "stale id %u/%llu", (unsigned)req_sender,
          (unsigned long long)req_seq);
    r = meshseal_issue_challenge(&lamp_rx, &lamp_tx, req_sender, req_seq, 0, challenge,
                                 sizeof challenge, &cn);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "issue challenge");

    r = meshseal_open_response(&ctl_rx, challenge, cn, req_sender, req_seq, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "open challenge");
    CHECK(o.binding == MESHSEAL_BINDING_CHALLENGE && o.sender == 2, "challenge binding");
    r = meshseal_seal_echo(&ctl_tx, cmd, sizeof cmd, o.sender, o.seq, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal echo");
    r = meshseal_open(&lamp_rx, frame, n, MESHSEAL_CLASS_ACTUATION, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "echo accepted");
    CHECK(o.binding == MESHSEAL_BINDING_ECHO && o.freshness == MESHSEAL_FRESHNESS_FRESH &&
              o.payload_len == sizeof cmd && memcmp(frame + o.payload_offset, cmd, sizeof cmd) == 0,
          "echo delivered fresh");
    r = meshseal_recipient_last_stale(&ctl_rx, &req_sender, &req_seq);
    EXPECT_RESULT(r, MESHSEAL_RESULT_NOT_FOUND, "nothing stale at the controller");

    meshseal_sender_clear(&ctl_tx);
    meshseal_sender_clear(&lamp_tx);
    meshseal_recipient_clear(&ctl_rx);
    meshseal_recipient_clear(&lamp_rx);
}

/* The options calls: one seal call and one open call for every combination. Members 1 and 2
 * seal with explicit ids, member 3 relies on the link layer for its id. */
static void options_round(void) {
    static const uint8_t secret[16] = "options-secret!!";
    static const uint8_t pair_secret[16] = "pairwise-1-and-2";
    static MeshsealSender a_tx, b_tx, c_tx;
    static MeshsealRecipient a_rx, b_rx;
    counter_flash fa = {0, 0, 0, 0}, fb = {0, 0, 0, 0}, fc = {0, 0, 0, 0};
    MeshsealSenderConfig ca = meshseal_sender_config_default(1);
    MeshsealSenderConfig cb = meshseal_sender_config_default(2);
    MeshsealSenderConfig cc = meshseal_sender_config_default(3);
    cc.implicit_sender = 1;
    MeshsealRecipientConfig ra = meshseal_recipient_config_default(1, 3), rb = ra;
    ra.has_own_id = 1;
    ra.own_id = 1;
    rb.has_own_id = 1;
    rb.own_id = 2;
    MeshsealResult r = meshseal_sender_provision_secret(&a_tx, secret, 16, NULL, 0, 11, 0, &ca,
                                                        flash_load, flash_store, &fa);
    r |= meshseal_sender_provision_secret(&b_tx, secret, 16, NULL, 0, 11, 0, &cb, flash_load,
                                          flash_store, &fb);
    r |= meshseal_sender_provision_secret(&c_tx, secret, 16, NULL, 0, 11, 0, &cc, flash_load,
                                          flash_store, &fc);
    r |= meshseal_recipient_init_secret(&a_rx, secret, 16, NULL, 0, 11, 0, &ra);
    r |= meshseal_recipient_init_secret(&b_rx, secret, 16, NULL, 0, 11, 0, &rb);
    r |= meshseal_recipient_provision(&a_rx, 2);
    r |= meshseal_recipient_provision(&b_rx, 1);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "options set-up");

    const uint8_t msg[] = "valve=open";
    uint8_t frame[160], copy[160], other[160];
    size_t n = 0;
    MeshsealOpened o;

    /* NULL options: a plain group frame, opened as telemetry. */
    r = meshseal_seal_with(&a_tx, msg, sizeof msg, NULL, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal_with NULL options");
    r = meshseal_open_with(&b_rx, frame, n, NULL, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "open_with NULL options");
    CHECK(o.sender == 1 && o.seq == 0 && o.source == MESHSEAL_SOURCE_GROUP &&
              o.binding == MESHSEAL_BINDING_NONE && !o.has_time && !o.has_repeat &&
              o.freshness == MESHSEAL_FRESHNESS_FRESH,
          "plain frame through the options calls");
    CHECK(o.payload_len == sizeof msg && memcmp(frame + o.payload_offset, msg, sizeof msg) == 0,
          "plain payload");

    /* A timed, repeated command for a sleepy receiver, opened as actuation by a receiver with
     * a clock: fresh once, the next two copies duplicates, a copy beyond the announced three a
     * replay. */
    r = meshseal_recipient_set_clock(&b_rx, 1200, 2);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "set clock");
    MeshsealSeal so = meshseal_seal_options_default();
    so.has_time = 1;
    so.time = 1200;
    so.has_repeat = 1;
    so.repeat_copies = 3;
    so.repeat_window = 30;
    r = meshseal_seal_with(&a_tx, msg, sizeof msg, &so, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal timed and repeated");
    memcpy(copy, frame, n);
    MeshsealOpen oo = meshseal_open_options_default();
    oo.traffic_class = MESHSEAL_CLASS_ACTUATION;
    r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "open timed and repeated as actuation");
    CHECK(o.freshness == MESHSEAL_FRESHNESS_FRESH && o.has_time && o.time == 1200 &&
              o.has_repeat && o.repeat_copies == 3 && o.repeat_window == 30,
          "timed repeated frame: fresh %u time %u repeat %u/%u/%u", o.freshness, o.time,
          o.has_repeat, o.repeat_copies, o.repeat_window);
    for (int i = 0; i < 3; i++) {
        memcpy(frame, copy, n);
        r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
        EXPECT_RESULT(r, i < 2 ? MESHSEAL_RESULT_DUPLICATE : MESHSEAL_RESULT_REPLAY,
                      "another copy of the repeated frame");
    }

    /* A response, opened with `request`: bound to that request only. */
    r = meshseal_seal_with(&a_tx, (const uint8_t *)"status?", 7, NULL, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal request");
    r = meshseal_open_with(&b_rx, frame, n, NULL, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "open request");
    MeshsealFrameId request = {o.sender, o.seq};
    so = meshseal_seal_options_default();
    so.binding = MESHSEAL_BINDING_RESPONSE;
    so.bound = request;
    r = meshseal_seal_with(&b_tx, (const uint8_t *)"ok", 2, &so, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal response");
    memcpy(copy, frame, n);
    memcpy(other, frame, n);
    oo = meshseal_open_options_default();
    r = meshseal_open_with(&a_rx, copy, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_UNSOLICITED, "response without a request");
    oo.has_request = 1;
    oo.request = (MeshsealFrameId){request.sender, request.seq + 1};
    r = meshseal_open_with(&a_rx, other, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_BAD_TAG, "response to another request");
    oo.request = request;
    r = meshseal_open_with(&a_rx, frame, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "response to the request");
    CHECK(o.binding == MESHSEAL_BINDING_RESPONSE && o.sender == 2 && o.payload_len == 2 &&
              memcmp(frame + o.payload_offset, "ok", 2) == 0,
          "response delivered");

    /* An echo: a challenged command is refused as stale, challenged, and the echo sealed
     * through the options call is delivered. */
    r = meshseal_seal_with(&a_tx, msg, sizeof msg, NULL, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal command");
    oo = meshseal_open_options_default();
    oo.traffic_class = MESHSEAL_CLASS_CHALLENGED;
    r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_STALE, "challenged command without an echo");
    r = meshseal_recipient_last_stale(&b_rx, &request.sender, &request.seq);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "last stale");
    uint8_t challenge[64];
    size_t cn = 0;
    r = meshseal_issue_challenge(&b_rx, &b_tx, request.sender, request.seq, 0, challenge,
                                 sizeof challenge, &cn);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "issue challenge");
    MeshsealOpen co = meshseal_open_options_default();
    co.has_request = 1;
    co.request = request;
    r = meshseal_open_with(&a_rx, challenge, cn, &co, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "open challenge");
    CHECK(o.binding == MESHSEAL_BINDING_CHALLENGE, "challenge binding");
    so = meshseal_seal_options_default();
    so.binding = MESHSEAL_BINDING_ECHO;
    so.bound = (MeshsealFrameId){o.sender, o.seq};
    r = meshseal_seal_with(&a_tx, msg, sizeof msg, &so, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal echo");
    r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "echo accepted");
    CHECK(o.binding == MESHSEAL_BINDING_ECHO && o.freshness == MESHSEAL_FRESHNESS_FRESH &&
              o.payload_len == sizeof msg && memcmp(frame + o.payload_offset, msg, sizeof msg) == 0,
          "echo delivered fresh");

    /* A sender id supplied by the link layer: authenticated, so a wrong one fails the tag. */
    r = meshseal_seal_with(&c_tx, msg, sizeof msg, NULL, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal with an implicit id");
    memcpy(copy, frame, n);
    oo = meshseal_open_options_default();
    oo.has_link_sender = 1;
    oo.link_sender = 1;
    r = meshseal_open_with(&b_rx, copy, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_BAD_TAG, "wrong link-layer sender");
    oo.link_sender = 3;
    r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "link-layer sender");
    CHECK(o.sender == 3, "link-layer sender %u", (unsigned)o.sender);

    /* Pairwise: refused without the peer's keys, delivered with them; a receiver that
     * requires a source refuses a group frame. */
    MeshsealPeerKeys peers[2];
    memset(peers, 0, sizeof peers);
    peers[0].peer = 3;
    peers[1].peer = 1;
    peers[1].has_pairwise = 1;
    r = meshseal_derive(pair_secret, 16, NULL, 0, 11, 0, &peers[1].pairwise);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "pairwise keys");
    so = meshseal_seal_options_default();
    so.source = MESHSEAL_SOURCE_PAIRWISE;
    so.pairwise_keys = &peers[1].pairwise;
    r = meshseal_seal_with(&a_tx, msg, sizeof msg, &so, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal pairwise");
    oo = meshseal_open_options_default();
    oo.require_source = 1;
    r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_UNKNOWN_KEY, "pairwise frame without keys");
    oo.source_keys = peers;
    oo.source_keys_len = 2;
    r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "pairwise frame with keys");
    CHECK(o.source == MESHSEAL_SOURCE_PAIRWISE && o.sender == 1 && o.payload_len == sizeof msg &&
              memcmp(frame + o.payload_offset, msg, sizeof msg) == 0,
          "pairwise frame delivered");
    r = meshseal_seal_with(&a_tx, msg, sizeof msg, NULL, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal group frame");
    r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_UNAUTHENTICATED, "group frame where a source is required");

    /* Signed: UNSUPPORTED, with no number used, unless the library was built with `signed`. */
    static const uint8_t seed[MESHSEAL_ED25519_KEY_LEN] = {9};
    uint64_t before = 0, after = 0;
    meshseal_sender_counter(&a_tx, &before, NULL);
    so = meshseal_seal_options_default();
    so.source = MESHSEAL_SOURCE_SIGNED;
    so.signing_key = seed;
    r = meshseal_seal_with(&a_tx, msg, sizeof msg, &so, frame, sizeof frame, &n);
    meshseal_sender_counter(&a_tx, &after, NULL);
    if (r == MESHSEAL_RESULT_UNSUPPORTED) {
        CHECK(n == 0 && after == before, "an unsupported seal used a number");
    } else {
        EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal signed");
        oo.source_keys = NULL;
        oo.source_keys_len = 0;
        r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
        EXPECT_RESULT(r, MESHSEAL_RESULT_UNKNOWN_KEY, "signed frame without a verifying key");
    }

    /* Invalid values are refused as BAD_ARGUMENT, never undefined: no number is used, no frame
     * reported, and a frame refused for its options can still be opened. */
    meshseal_sender_counter(&a_tx, &before, NULL);
    MeshsealSeal bad_seals[4];
    for (int i = 0; i < 4; i++) bad_seals[i] = meshseal_seal_options_default();
    bad_seals[0].source = 7;
    bad_seals[1].binding = MESHSEAL_BINDING_CHALLENGE;
    bad_seals[2].binding = 200;
    bad_seals[3].has_time = 2;
    for (int i = 0; i < 4; i++) {
        n = 99;
        r = meshseal_seal_with(&a_tx, msg, sizeof msg, &bad_seals[i], frame, sizeof frame, &n);
        EXPECT_RESULT(r, MESHSEAL_RESULT_BAD_ARGUMENT, "invalid seal options");
        CHECK(n == 0, "a refused seal reported %zu bytes", n);
    }
    meshseal_sender_counter(&a_tx, &after, NULL);
    CHECK(after == before, "refused options used %llu numbers",
          (unsigned long long)(after - before));
    r = meshseal_seal_with(&a_tx, msg, sizeof msg, NULL, frame, sizeof frame, &n);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "seal after refused options");
    memcpy(copy, frame, n);
    oo = meshseal_open_options_default();
    oo.traffic_class = 9;
    r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_BAD_ARGUMENT, "unknown traffic class");
    oo = meshseal_open_options_default();
    oo.require_source = 3;
    r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_BAD_ARGUMENT, "require_source out of range");
    oo = meshseal_open_options_default();
    oo.source_keys_len = 1;
    r = meshseal_open_with(&b_rx, frame, n, &oo, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_NULL_POINTER, "key table without a pointer");
    CHECK(memcmp(frame, copy, n) == 0, "refused options touched the frame");
    r = meshseal_open_with(&b_rx, frame, n, NULL, &o);
    EXPECT_RESULT(r, MESHSEAL_RESULT_OK, "open after refused options");

    meshseal_keys_clear(&peers[1].pairwise);
    meshseal_sender_clear(&a_tx);
    meshseal_sender_clear(&b_tx);
    meshseal_sender_clear(&c_tx);
    meshseal_recipient_clear(&a_rx);
    meshseal_recipient_clear(&b_rx);
}

int main(void) {
    char line[2048];
    int vectors = 0;
    while (fgets(line, sizeof line, stdin)) {
        if (line[0] == 'G') group_line(line);
        else if (line[0] == 'F') vectors += frame_line(line);
    }
    meshseal_recipient_clear(&rx);
    session();
    challenge_round();
    options_round();
    printf("vectors %d failures %d\n", vectors, failures);
    return failures ? 1 : 0;
}
