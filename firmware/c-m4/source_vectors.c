/* The frozen source-authentication vectors (source-v1.json) through the C API on a Cortex-M4
 * under QEMU, as firmware calls it: a repeated command, pairwise frames and a signed frame
 * sealed byte for byte and opened by a receiver in step with their sender (its replay state
 * restored from a saved record), and a rekey message opened into the next epoch's keys. The
 * library is built with the features pairwise and signed (CMakeLists.txt). Exit status 0
 * only if every vector passes; the tables come from gen_source_vectors.py. */
#include <stdint.h>
#include <string.h>

#include "meshseal.h"
#include "source_vectors.h"
#include "startup.h"

static MeshsealSender tx;
static MeshsealRecipient rx;
static int failures;

static void check(int ok, const char *what) {
    if (!ok) {
        failures++;
        sh_puts("FAIL ");
        sh_puts(what);
        sh_puts("\n");
    }
}

static uint64_t flash_limit;

static int32_t load(void *user, uint64_t *limit) {
    (void)user;
    *limit = flash_limit;
    return 1;
}

static int32_t store(void *user, uint64_t limit) {
    (void)user;
    flash_limit = limit;
    return 0;
}

static MeshsealKeys group_keys(const uint8_t *secret, size_t len, uint16_t epoch) {
    MeshsealKeys k;
    memset(&k, 0, sizeof k);
    check(meshseal_derive(secret, len, NULL, 0, GROUP_ID, epoch, &k) == MESHSEAL_RESULT_OK, "derive");
    return k;
}

/* Seals `payload` as `sender` booted at `seq`, its length state confirmed up to `reference`. */
static size_t seal(const MeshsealKeys *keys, uint32_t sender, uint64_t seq, uint64_t reference,
                   const uint8_t *payload, size_t len, const MeshsealSeal *how, uint8_t *out,
                   size_t cap) {
    MeshsealSenderConfig cfg = meshseal_sender_config_default(sender);
    cfg.length_mode = MESHSEAL_LENGTH_CONFIRMED;
    cfg.full_every = 1000;
    flash_limit = seq;
    size_t n = 0;
    check(meshseal_sender_init(&tx, keys, &cfg, load, store, NULL) == MESHSEAL_RESULT_OK, "sender init");
    meshseal_sender_confirm(&tx, reference);
    check(meshseal_seal_with(&tx, payload, len, how, out, cap, &n) == MESHSEAL_RESULT_OK, "seal");
    meshseal_sender_clear(&tx);
    return n;
}

static void le(uint8_t *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Opens `frame` at member `own` whose window for `sender` in `lane` stands at `reference`. */
static MeshsealResult open_frame(const MeshsealKeys *keys, uint32_t own, uint32_t sender,
                           uint8_t lane, uint64_t reference, uint8_t *frame, size_t len,
                           const MeshsealPeerKeys *peers, size_t npeers, MeshsealOpened *o) {
    /* A saved replay-state record (MSR1): group, epoch 0, one window, exact. */
    uint8_t rec[36];
    memcpy(rec, "MSR1", 4);
    le(rec + 4, GROUP_ID, 4);
    le(rec + 8, 0, 2);
    rec[10] = 1;
    rec[11] = 0;
    le(rec + 12, sender, 4);
    rec[16] = lane;
    rec[17] = 3;
    le(rec + 18, 0, 2);
    le(rec + 20, reference, 8);
    le(rec + 28, 1, 8);
    MeshsealRecipientConfig cfg = meshseal_recipient_config_default(1, 9);
    cfg.has_own_id = 1;
    cfg.own_id = own;
    MeshsealOpen how = meshseal_open_options_default();
    how.source_keys = peers;
    how.source_keys_len = npeers;
    check(meshseal_recipient_init(&rx, keys, &cfg) == MESHSEAL_RESULT_OK, "recipient init");
    check(meshseal_recipient_restore(&rx, rec, sizeof rec, 0) == MESHSEAL_RESULT_OK, "restore");
    MeshsealResult r = meshseal_open_with(&rx, frame, len, &how, o);
    meshseal_recipient_clear(&rx);
    return r;
}

static void rekey(void) {
    uint8_t msg[REKEY_MESSAGE_LEN];
    memcpy(msg, rekey_message, sizeof msg);
    MeshsealRekeyed re;
    memset(&re, 0, sizeof re);
    MeshsealResult r = meshseal_open_rekey(rekey_member_secret, GROUP_ID, REKEY_MEMBER, EPOCH, 0,
                                           msg, sizeof msg, &re);
    check(r == MESHSEAL_RESULT_OK, "rekey opens");
    check(re.keys.epoch == REKEY_EPOCH && re.grace == REKEY_GRACE, "rekey epoch and grace");
    check(re.removed_count == REKEY_REMOVED_LEN &&
              memcmp(re.removed, rekey_removed, sizeof(uint32_t) * REKEY_REMOVED_LEN) == 0,
          "rekey removed members");
    MeshsealKeys want =
        group_keys(rekey_new_master_secret, REKEY_NEW_MASTER_SECRET_LEN, REKEY_EPOCH);
    check(memcmp(re.keys.key, want.key, sizeof want.key) == 0 &&
              memcmp(re.keys.iv, want.iv, sizeof want.iv) == 0,
          "rekey keys");
    /* Tampered: refused whole. */
    memcpy(msg, rekey_message, sizeof msg);
    msg[sizeof msg - 1] ^= 1;
    check(meshseal_open_rekey(rekey_member_secret, GROUP_ID, REKEY_MEMBER, EPOCH, 0, msg,
                              sizeof msg, &re) != MESHSEAL_RESULT_OK,
          "tampered rekey refused");
}

static void repeat(const MeshsealKeys *keys) {
    uint8_t out[128], buf[REPEAT_FRAME_LEN];
    MeshsealSeal how = meshseal_seal_options_default();
    how.has_time = 1;
    how.time = REPEAT_TIME;
    how.has_repeat = 1;
    how.repeat_copies = REPEAT_COPIES;
    how.repeat_window = REPEAT_WINDOW;
    size_t n = seal(keys, REPEAT_SENDER, REPEAT_SEQ, REPEAT_REFERENCE, repeat_payload,
                    REPEAT_PAYLOAD_LEN, &how, out, sizeof out);
    check(n == REPEAT_FRAME_LEN && memcmp(out, repeat_frame, n) == 0, "repeat sealed");
    memcpy(buf, repeat_frame, sizeof buf);
    MeshsealOpened o;
    MeshsealResult r = open_frame(keys, 2, REPEAT_SENDER, 0, REPEAT_REFERENCE, buf, sizeof buf, NULL, 0,
                            &o);
    check(r == MESHSEAL_RESULT_OK && o.repeat_copies == REPEAT_COPIES &&
              o.payload_len == REPEAT_PAYLOAD_LEN &&
              memcmp(buf + o.payload_offset, repeat_payload, o.payload_len) == 0,
          "repeat opened");
}

struct pw {
    uint32_t sender, receiver;
    uint64_t seq, reference;
    const uint8_t *payload;
    size_t payload_len;
    const uint8_t *frame;
    size_t frame_len;
    const uint8_t *sender_secret, *sender_public, *receiver_secret, *receiver_public;
};

static const struct pw pws[PAIRWISE_FRAMES] = PAIRWISE_TABLE;

static MeshsealKeys pairwise(uint32_t own, const uint8_t *own_secret, uint32_t peer,
                             const uint8_t *peer_public) {
    MeshsealKeys k;
    memset(&k, 0, sizeof k);
    check(meshseal_derive_pairwise(master_secret, MASTER_SECRET_LEN, NULL, 0, GROUP_ID, EPOCH, own,
                                   own_secret, peer, peer_public, &k) == MESHSEAL_RESULT_OK,
          "derive pairwise");
    return k;
}

static void pairwise_frames(const MeshsealKeys *keys) {
    for (int i = 0; i < PAIRWISE_FRAMES; i++) {
        const struct pw *v = &pws[i];
        MeshsealKeys theirs = pairwise(v->sender, v->sender_secret, v->receiver, v->receiver_public);
        MeshsealSeal how = meshseal_seal_options_default();
        how.source = MESHSEAL_SOURCE_PAIRWISE;
        how.pairwise_keys = &theirs;
        uint8_t out[128], buf[128];
        size_t n = seal(keys, v->sender, v->seq, v->reference, v->payload, v->payload_len, &how,
                        out, sizeof out);
        check(n == v->frame_len && memcmp(out, v->frame, n) == 0, "pairwise sealed");
        MeshsealPeerKeys peer;
        memset(&peer, 0, sizeof peer);
        peer.peer = v->sender;
        peer.has_pairwise = 1;
        peer.pairwise = pairwise(v->receiver, v->receiver_secret, v->sender, v->sender_public);
        memcpy(buf, v->frame, v->frame_len);
        MeshsealOpened o;
        MeshsealResult r =
            open_frame(keys, v->receiver, v->sender, 1, v->reference, buf, v->frame_len, &peer, 1, &o);
        check(r == MESHSEAL_RESULT_OK && o.source == MESHSEAL_SOURCE_PAIRWISE &&
                  o.payload_len == v->payload_len &&
                  memcmp(buf + o.payload_offset, v->payload, o.payload_len) == 0,
              "pairwise opened");
        /* The same frame without the pair's keys is not authentic to this receiver. */
        memcpy(buf, v->frame, v->frame_len);
        r = open_frame(keys, v->receiver, v->sender, 1, v->reference, buf, v->frame_len, NULL, 0, &o);
        check(r != MESHSEAL_RESULT_OK, "pairwise frame refused without the pair's keys");
    }
}

static void signed_vector(const MeshsealKeys *keys) {
    MeshsealSeal how = meshseal_seal_options_default();
    how.source = MESHSEAL_SOURCE_SIGNED;
    how.signing_key = signed_secret;
    uint8_t out[160], buf[SIGNED_FRAME_LEN];
    size_t n = seal(keys, SIGNED_SENDER, SIGNED_SEQ, SIGNED_REFERENCE, signed_payload,
                    SIGNED_PAYLOAD_LEN, &how, out, sizeof out);
    check(n == SIGNED_FRAME_LEN &&
              memcmp(out, signed_frame, n) == 0,
          "signed sealed");
    MeshsealPeerKeys peer;
    memset(&peer, 0, sizeof peer);
    peer.peer = SIGNED_SENDER;
    peer.has_verifying_key = 1;
    memcpy(peer.verifying_key, signed_public, sizeof peer.verifying_key);
    memcpy(buf, signed_frame, sizeof buf);
    MeshsealOpened o;
    MeshsealResult r =
        open_frame(keys, 2, SIGNED_SENDER, 1, SIGNED_REFERENCE, buf, sizeof buf, &peer, 1, &o);
    check(r == MESHSEAL_RESULT_OK && o.source == MESHSEAL_SOURCE_SIGNED &&
              o.payload_len == SIGNED_PAYLOAD_LEN &&
              memcmp(buf + o.payload_offset, signed_payload, o.payload_len) == 0,
          "signed opened");
    /* Another key claimed for the sender: the signature does not verify. */
    peer.verifying_key[0] ^= 1;
    memcpy(buf, signed_frame, sizeof buf);
    r = open_frame(keys, 2, SIGNED_SENDER, 1, SIGNED_REFERENCE, buf, sizeof buf, &peer, 1, &o);
    check(r != MESHSEAL_RESULT_OK, "signed frame refused under another key");
}

int main(void) {
    MeshsealKeys keys = group_keys(master_secret, MASTER_SECRET_LEN, EPOCH);
    rekey();
    repeat(&keys);
    pairwise_frames(&keys);
    signed_vector(&keys);
    sh_put_uint("source vectors: rekey 1, repeat 1, pairwise ", PAIRWISE_FRAMES);
    sh_put_uint(", signed 1; failures=", (unsigned)failures);
    sh_puts(failures ? "\nFAIL\n" : "\nPASS\n");
    return failures ? 1 : 0;
}
