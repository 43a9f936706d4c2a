/* C firmware on a Cortex-M4 over the C API: links libmeshseal_ffi.a (thumbv7em, release,
 * feature panic-halt) with Debian's arm-none-eabi-gcc, checks that a sender does not boot from
 * an empty counter store unless provisioned, seals and opens through meshseal.h, checks that
 * a replayed and a tampered frame are refused with their codes, seals a timed, repeated frame
 * and opens it through the options calls (meshseal_seal_with, meshseal_open_with), and reports
 * the stack high-water mark (contexts are static, in .bss). Exit status 0 only if all checks
 * pass. Start-up, semihosting and stack painting come from ../mbedtls-m4/startup.c. */
#include <stdint.h>
#include <string.h>

#include "meshseal.h"
#include "startup.h"


static uint64_t flash_limit;
static int flash_present;

static int32_t load(void *user, uint64_t *limit) {
    (void)user;
    if (!flash_present) return 0;
    *limit = flash_limit;
    return 1;
}

static int32_t store(void *user, uint64_t limit) {
    (void)user;
    flash_limit = limit;
    flash_present = 1;
    return 0;
}

static MeshsealSender tx;
static MeshsealRecipient rx;
static const MeshsealKeys keys = {
    .key = "meshseal-fp-key!",
    .iv = "meshseal-iv-\x01",
    .group_id = 7,
    .epoch = 0,
};

__attribute__((noinline)) static int run(void) {
    static const uint8_t payload[16] = "0123456789abcdef";
    uint8_t frame[48], copy[48];
    size_t n = 0;
    int ok = 1;
    MeshsealSenderConfig tcfg = meshseal_sender_config_default(1);
    MeshsealRecipientConfig rcfg = meshseal_recipient_config_default(1, 10);
    /* No record yet: an ordinary boot is refused, provisioning (a new identity) starts at 0. */
    ok &= meshseal_sender_init(&tx, &keys, &tcfg, load, store, NULL) ==
          MESHSEAL_RESULT_NO_COUNTER_RECORD;
    ok &= !flash_present;
    ok &= meshseal_sender_provision(&tx, &keys, &tcfg, load, store, NULL) == MESHSEAL_RESULT_OK;
    ok &= flash_present && flash_limit == 0;
    ok &= meshseal_recipient_init(&rx, &keys, &rcfg) == MESHSEAL_RESULT_OK;
    ok &= meshseal_recipient_provision(&rx, 1) == MESHSEAL_RESULT_OK;
    for (int i = 0; i < 20 && ok; i++) {
        MeshsealOpened o;
        ok &= meshseal_seal(&tx, payload, sizeof payload, frame, sizeof frame, &n) ==
              MESHSEAL_RESULT_OK;
        memcpy(copy, frame, n);
        ok &= meshseal_open(&rx, frame, n, MESHSEAL_CLASS_TELEMETRY, &o) == MESHSEAL_RESULT_OK;
        ok &= o.payload_len == sizeof payload &&
              memcmp(frame + o.payload_offset, payload, sizeof payload) == 0;
        ok &= meshseal_open(&rx, copy, n, MESHSEAL_CLASS_TELEMETRY, &o) == MESHSEAL_RESULT_REPLAY;
    }
    MeshsealOpened o;
    ok &= meshseal_seal(&tx, payload, sizeof payload, frame, sizeof frame, &n) == MESHSEAL_RESULT_OK;
    frame[2] ^= 1;
    ok &= meshseal_open(&rx, frame, n, MESHSEAL_CLASS_TELEMETRY, &o) == MESHSEAL_RESULT_BAD_TAG;
    MeshsealStats st;
    ok &= meshseal_recipient_stats(&rx, &st) == MESHSEAL_RESULT_OK;
    ok &= st.accepted == 20 && st.refused[MESHSEAL_RESULT_REPLAY - 1] == 20 &&
          st.refused[MESHSEAL_RESULT_BAD_TAG - 1] == 1;

    /* The options calls: a timed command repeated for a sleepy receiver, opened as actuation
     * by a receiver with a clock (the next copy is a duplicate); an unknown constant refused
     * without using a number. */
    ok &= meshseal_recipient_set_clock(&rx, 600, 2) == MESHSEAL_RESULT_OK;
    MeshsealSeal so = meshseal_seal_options_default();
    so.has_time = 1;
    so.time = 600;
    so.has_repeat = 1;
    so.repeat_copies = 2;
    so.repeat_window = 10;
    ok &= meshseal_seal_with(&tx, payload, sizeof payload, &so, frame, sizeof frame, &n) ==
          MESHSEAL_RESULT_OK;
    memcpy(copy, frame, n);
    MeshsealOpen oo = meshseal_open_options_default();
    oo.traffic_class = MESHSEAL_CLASS_ACTUATION;
    ok &= meshseal_open_with(&rx, frame, n, &oo, &o) == MESHSEAL_RESULT_OK;
    ok &= o.freshness == MESHSEAL_FRESHNESS_FRESH && o.has_repeat && o.repeat_copies == 2;
    ok &= meshseal_open_with(&rx, copy, n, &oo, &o) == MESHSEAL_RESULT_DUPLICATE;
    uint64_t before = 0, after = 1;
    meshseal_sender_counter(&tx, &before, NULL);
    so.source = 7;
    ok &= meshseal_seal_with(&tx, payload, sizeof payload, &so, frame, sizeof frame, &n) ==
          MESHSEAL_RESULT_BAD_ARGUMENT;
    meshseal_sender_counter(&tx, &after, NULL);
    ok &= n == 0 && after == before;
    return ok;
}

int main(void) {
    stack_paint();
    int ok = run();
    sh_put_uint("c-api stack=", (unsigned)stack_high_water());
    sh_put_uint(" sender_size=", (unsigned)meshseal_sender_size());
    sh_put_uint(" recipient_size=", (unsigned)meshseal_recipient_size());
    sh_puts(ok ? " PASS\n" : " FAIL\n");
    return ok ? 0 : 1;
}
