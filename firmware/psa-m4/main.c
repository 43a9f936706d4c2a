/* meshseal on PSA Crypto, on a Cortex-M4 under QEMU (mps2-an386): the C API built without
 * meshseal's own AES (`--no-default-features`), every AES operation done by Mbed TLS's PSA
 * implementation through the MeshsealAead callbacks (platform.c), the group key imported into
 * PSA as an opaque key id and never in meshseal's RAM.
 *
 * Runs the frozen compact and header-privacy vectors (each frame sealed and compared byte for
 * byte, opened, and refused with its tag changed), then a session: frames sealed and opened,
 * a replay and a tamper refused with their codes, and the instructions of a 16-byte seal and
 * open (mean of 64, QEMU -icount with SysTick calibrated, as in ../mbedtls-m4). Prints one
 * line; exit status 0 only if every check passed. */
#include <stdint.h>
#include <string.h>

#include "meshseal.h"
#include "platform.h"
#include "startup.h"


struct vframe {
    uint32_t sender;
    uint8_t implicit;
    uint64_t seq;
    uint8_t has_ref;
    uint64_t ref;
    uint8_t kind; /* 0 plain, 1 timed, 2 fragment, 3 response, 4 echo, 5 challenge, 6 repeated */
    uint32_t a;
    uint64_t b;
    const uint8_t *payload;
    size_t payload_len;
    const uint8_t *frame;
    size_t frame_len;
};

struct vgroup {
    uint8_t key[16], iv[13], privacy_key[16];
    uint8_t privacy;
    uint32_t group_id;
    uint16_t epoch;
    int first, count;
};

#include "vectors.h"

static struct engine engine;
static MeshsealKeys keys;
static MeshsealAead aead = {psa_seal, psa_open, psa_mask, &engine};
static MeshsealSender tx;
static MeshsealRecipient rx;
static int failures;
static struct counter_record record;

#define CHECK(c)                     \
    do {                             \
        if (!(c)) {                  \
            failures++;              \
            sh_put_uint("FAIL line", __LINE__); \
        }                            \
    } while (0)

/* The group's keys in PSA; `keys` names the platform AEAD and holds no AES key. */
static void use_group(const struct vgroup *g) {
    psa_destroy_key(engine.ccm);
    psa_destroy_key(engine.ecb);
    engine.ccm = import_key(g->key, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT, CCM8);
    engine.ecb = g->privacy ? import_key(g->privacy_key, PSA_KEY_USAGE_ENCRYPT,
                                     PSA_ALG_ECB_NO_PADDING) : 0;
    CHECK(engine.ccm != 0 && (!g->privacy || engine.ecb != 0));
    memset(&keys, 0, sizeof keys);
    memcpy(keys.iv, g->iv, 13);
    keys.group_id = g->group_id;
    keys.epoch = g->epoch;
    keys.privacy = g->privacy;
    keys.aead = &aead;
}

static void vector(const struct vframe *v) {
    static uint8_t out[320], buf[320];
    size_t n = 0;
    MeshsealSenderConfig cfg = meshseal_sender_config_default(v->sender);
    cfg.implicit_sender = v->implicit;
    cfg.length_mode = MESHSEAL_LENGTH_CONFIRMED;
    cfg.full_every = 1000;
    record = (struct counter_record){v->seq, 1};
    CHECK(meshseal_sender_init(&tx, &keys, &cfg, counter_load, counter_store, &record) ==
          MESHSEAL_RESULT_OK);
    if (v->has_ref) meshseal_sender_confirm(&tx, v->ref);
    MeshsealSeal o = meshseal_seal_options_default();
    MeshsealResult r;
    int bound = 0;
    switch (v->kind) {
    case 2:
        r = meshseal_seal_fragment(&tx, v->payload, v->payload_len, (uint8_t)v->a,
                                   (uint8_t)v->b, out, sizeof out, &n);
        break;
    case 5:
        bound = 1;
        r = meshseal_seal_challenge(&tx, v->a, v->b, out, sizeof out, &n);
        break;
    default:
        if (v->kind == 1 || v->kind == 6) {
            o.has_time = 1;
            o.time = (uint16_t)v->a;
        }
        if (v->kind == 6) {
            o.has_repeat = 1;
            o.repeat_copies = (uint8_t)(v->b >> 8);
            o.repeat_window = (uint8_t)v->b;
        }
        if (v->kind == 3 || v->kind == 4) {
            bound = 1;
            o.binding = v->kind == 3 ? MESHSEAL_BINDING_RESPONSE : MESHSEAL_BINDING_ECHO;
            o.bound = (MeshsealFrameId){v->a, v->b};
        }
        r = meshseal_seal_with(&tx, v->payload, v->payload_len, &o, out, sizeof out, &n);
    }
    CHECK(r == MESHSEAL_RESULT_OK);
    CHECK(n == v->frame_len && memcmp(out, v->frame, n) == 0);
    meshseal_sender_clear(&tx);

    MeshsealOpened op;
    uint64_t near = v->has_ref ? v->ref + 1 : 0;
    memcpy(buf, v->frame, v->frame_len);
    r = meshseal_verify_stateless(&rx, buf, v->frame_len, v->implicit, v->sender, near,
                                  (uint8_t)bound, v->a, v->b, &op);
    CHECK(r == MESHSEAL_RESULT_OK);
    CHECK(op.sender == v->sender && op.seq == v->seq && op.payload_len == v->payload_len &&
          memcmp(buf + op.payload_offset, v->payload, v->payload_len) == 0);
    memcpy(buf, v->frame, v->frame_len);
    buf[v->frame_len - 1] ^= 1;
    r = meshseal_verify_stateless(&rx, buf, v->frame_len, v->implicit, v->sender, near,
                                  (uint8_t)bound, v->a, v->b, &op);
    CHECK(r > 0);
}

/* A provisioned sender (1) and a recipient (2) of the first group: frames, a replay, a tamper,
 * a failing engine, and the instructions of a 16-byte seal and open. */

static void session(void) {
    static const uint8_t payload[16] = "0123456789abcdef";
    uint8_t frame[48], copy[48];
    size_t n = 0;
    MeshsealOpened o;
    use_group(&vgroups[0]);
    record.present = 0;
    MeshsealSenderConfig tcfg = meshseal_sender_config_default(1);
    MeshsealRecipientConfig rcfg = meshseal_recipient_config_default(1, 10);
    rcfg.has_own_id = 1;
    rcfg.own_id = 2;
    CHECK(meshseal_sender_provision(&tx, &keys, &tcfg, counter_load, counter_store, &record) ==
          MESHSEAL_RESULT_OK);
    CHECK(meshseal_recipient_init(&rx, &keys, &rcfg) == MESHSEAL_RESULT_OK);
    CHECK(meshseal_recipient_provision(&rx, 1) == MESHSEAL_RESULT_OK);
    uint32_t per_tick = insns_per_tick(), seal_ticks = 0, open_ticks = 0;
    unsigned calls = engine.calls;
    for (int i = 0; i < 64; i++) {
        uint32_t t0 = timer_now();
        MeshsealResult r = meshseal_seal(&tx, payload, sizeof payload, frame, sizeof frame, &n);
        uint32_t t1 = timer_now();
        memcpy(copy, frame, n);
        MeshsealResult s = meshseal_open(&rx, frame, n, MESHSEAL_CLASS_TELEMETRY, &o);
        uint32_t t2 = timer_now();
        seal_ticks += timer_ticks(t0, t1);
        open_ticks += timer_ticks(t1, t2);
        CHECK(r == MESHSEAL_RESULT_OK && s == MESHSEAL_RESULT_OK);
        CHECK(o.payload_len == 16 && memcmp(frame + o.payload_offset, payload, 16) == 0);
        CHECK(meshseal_open(&rx, copy, n, MESHSEAL_CLASS_TELEMETRY, &o) == MESHSEAL_RESULT_REPLAY);
    }
    /* Every AES operation went through PSA: a seal, an open and the replay's open (a replay
     * is counted only once its tag verified) per round. */
    CHECK(engine.calls - calls == 64 * 3);
    CHECK(meshseal_seal(&tx, payload, sizeof payload, frame, sizeof frame, &n) == MESHSEAL_RESULT_OK);
    memcpy(copy, frame, n);
    frame[2] ^= 1;
    CHECK(meshseal_open(&rx, frame, n, MESHSEAL_CLASS_TELEMETRY, &o) == MESHSEAL_RESULT_BAD_TAG);
    /* A failing engine: refused as BACKEND (not a bad tag), the frame's number left unused, so
     * the same frame opens once the engine is back (an open works in place: open a copy). */
    uint8_t again[48];
    memcpy(again, copy, n);
    engine.fail = 1;
    CHECK(meshseal_open(&rx, again, n, MESHSEAL_CLASS_TELEMETRY, &o) == MESHSEAL_RESULT_BACKEND);
    size_t none = 1;
    CHECK(meshseal_seal(&tx, payload, sizeof payload, frame, sizeof frame, &none) ==
          MESHSEAL_RESULT_BACKEND);
    CHECK(none == 0);
    engine.fail = 0;
    CHECK(meshseal_open(&rx, copy, n, MESHSEAL_CLASS_TELEMETRY, &o) == MESHSEAL_RESULT_OK);
    sh_put_uint(" seal16_insns=", (seal_ticks * per_tick + 32) / 64);
    sh_put_uint(" open16_insns=", (open_ticks * per_tick + 32) / 64);
    sh_put_uint(" sender_ctx=", (unsigned)meshseal_sender_size());
    sh_put_uint(" recipient_ctx=", (unsigned)meshseal_recipient_size());
    sh_put_uint(" peer=", (unsigned)meshseal_peer_size());
    meshseal_sender_clear(&tx);
    meshseal_recipient_clear(&rx);
}

int main(void) {
    stack_paint();
    timer_start();
    CHECK(psa_crypto_init() == PSA_SUCCESS);
    unsigned frames = 0;
    for (size_t g = 0; g < sizeof vgroups / sizeof vgroups[0]; g++) {
        use_group(&vgroups[g]);
        MeshsealRecipientConfig rcfg = meshseal_recipient_config_default(0, UINT32_MAX);
        CHECK(meshseal_recipient_init(&rx, &keys, &rcfg) == MESHSEAL_RESULT_OK);
        for (int i = 0; i < vgroups[g].count; i++, frames++) vector(&vframes[vgroups[g].first + i]);
        meshseal_recipient_clear(&rx);
    }
    sh_put_uint("psa-m4: vectors=", frames);
    session();
    sh_put_uint(" stack=", (unsigned)stack_high_water());
    sh_put_uint(" failures=", (unsigned)failures);
    sh_puts("\n");
    return failures != 0;
}
