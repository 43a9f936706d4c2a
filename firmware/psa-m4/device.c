/* The size firmware: baseline.c's job (64 seals and opens of 16 bytes under a key imported
 * into PSA) done as the smallest device does it through meshseal: the library without header
 * privacy, statistics or tracked repeats, plain frames sealed with meshseal_seal and opened
 * with meshseal_open_plain, each round's replay refused, the PSA adapter of platform.c, and
 * contexts in blocks of exactly meshseal_sender_size() / meshseal_recipient_size() bytes (the
 * figures main.c prints, as the header allows). Its flash minus the baseline's is meshseal's
 * marginal cost on a device that has PSA's AES-CCM, the adapter and the counter-store
 * callbacks included. main.c holds the vectors and the refusal checks. */
#include <stdint.h>
#include <string.h>

#include "meshseal.h"
#include "platform.h"
#include "startup.h"

static struct engine engine;
static MeshsealAead aead = {psa_seal, psa_open, NULL, &engine};
static uint8_t tx_block[SENDER_BYTES] __attribute__((aligned(16)));
static uint8_t rx_block[RECIPIENT_BYTES] __attribute__((aligned(16)));
#define tx ((MeshsealSender *)tx_block)
#define rx ((MeshsealRecipient *)rx_block)

/* The counter's reservation record: a device keeps it in flash. */
static struct counter_record record;

int main(void) {
    static const uint8_t key[16] = "meshseal-fp-key!", iv[13] = "meshseal-iv-\x01";
    static const uint8_t payload[16] = "0123456789abcdef";
    uint8_t frame[48], copy[48];
    size_t n = 0;
    MeshsealOpened o;
    stack_paint();
    timer_start();
    int ok = psa_crypto_init() == PSA_SUCCESS;
    engine.ccm = import_key(key, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT, CCM8);
    /* The group's keys name the platform AEAD and hold no AES key. */
    MeshsealKeys keys = {.group_id = 7, .aead = &aead};
    memcpy(keys.iv, iv, sizeof keys.iv);
    MeshsealSenderConfig tcfg = meshseal_sender_config_default(1);
    MeshsealRecipientConfig rcfg = meshseal_recipient_config_default(1, 10);
    rcfg.has_own_id = 1;
    rcfg.own_id = 2;
    ok &= engine.ccm != 0;
    ok &= meshseal_sender_provision(tx, &keys, &tcfg, counter_load, counter_store,
                                    &record) == MESHSEAL_RESULT_OK;
    ok &= meshseal_recipient_init(rx, &keys, &rcfg) == MESHSEAL_RESULT_OK;
    ok &= meshseal_recipient_provision(rx, 1) == MESHSEAL_RESULT_OK;
    uint32_t per_tick = insns_per_tick(), seal_ticks = 0, open_ticks = 0;
    for (int i = 0; i < 64 && ok; i++) {
        uint32_t t0 = timer_now();
        ok &= meshseal_seal(tx, payload, sizeof payload, frame, sizeof frame, &n) ==
              MESHSEAL_RESULT_OK;
        uint32_t t1 = timer_now();
        memcpy(copy, frame, n);
        ok &= meshseal_open_plain(rx, frame, n, &o) == MESHSEAL_RESULT_OK;
        uint32_t t2 = timer_now();
        seal_ticks += timer_ticks(t0, t1);
        open_ticks += timer_ticks(t1, t2);
        ok &= o.payload_len == 16 && memcmp(frame + o.payload_offset, payload, 16) == 0;
        ok &= meshseal_open_plain(rx, copy, n, &o) == MESHSEAL_RESULT_REPLAY;
    }
    /* Every AES operation went through PSA: a seal and two opens (the replay is refused only
     * once its tag verified) per round. */
    ok &= engine.calls == 64 * 3;
    sh_put_uint("psa-device: seal16_insns=", (seal_ticks * per_tick + 32) / 64);
    sh_put_uint(" open16_insns=", (open_ticks * per_tick + 32) / 64);
    sh_put_uint(" stack=", (unsigned)stack_high_water());
    sh_put_uint(" failures=", (unsigned)!ok);
    sh_puts("\n");
    return !ok;
}
