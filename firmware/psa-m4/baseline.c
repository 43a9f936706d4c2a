/* The baseline of the PSA firmware: the same Mbed TLS PSA configuration with one AES-128-CCM-8
 * seal and open of a 16-byte payload under an imported key, and nothing of meshseal. Its flash
 * and RAM are what a device that already has PSA's AES-CCM pays; main.c minus this is
 * meshseal's marginal cost, and its instructions per seal and open are PSA's own. */
#include <stdint.h>
#include <string.h>

#include "psa/crypto.h"
#include "startup.h"


#define CCM8 PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_CCM, 8)

int main(void) {
    static const uint8_t key[16] = "meshseal-fp-key!", nonce[13] = "meshseal-iv-\x01";
    static const uint8_t payload[16] = "0123456789abcdef";
    uint8_t ct[24], pt[16];
    size_t n = 0, m = 0;
    stack_paint();
    timer_start();
    int ok = psa_crypto_init() == PSA_SUCCESS;
    psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&at, PSA_KEY_TYPE_AES);
    psa_set_key_bits(&at, 128);
    psa_set_key_usage_flags(&at, PSA_KEY_USAGE_ENCRYPT | PSA_KEY_USAGE_DECRYPT);
    psa_set_key_algorithm(&at, CCM8);
    psa_key_id_t id = 0;
    ok &= psa_import_key(&at, key, 16, &id) == PSA_SUCCESS;
    uint32_t per_tick = insns_per_tick(), seal_ticks = 0, open_ticks = 0;
    for (int i = 0; i < 64 && ok; i++) {
        uint32_t t0 = timer_now();
        ok &= psa_aead_encrypt(id, CCM8, nonce, 13, nonce, 3, payload, 16, ct, sizeof ct, &n) ==
              PSA_SUCCESS;
        uint32_t t1 = timer_now();
        ok &= psa_aead_decrypt(id, CCM8, nonce, 13, nonce, 3, ct, n, pt, sizeof pt, &m) ==
              PSA_SUCCESS;
        uint32_t t2 = timer_now();
        seal_ticks += timer_ticks(t0, t1);
        open_ticks += timer_ticks(t1, t2);
        ok &= m == 16 && memcmp(pt, payload, 16) == 0;
    }
    sh_put_uint("psa-baseline: seal16_insns=", (seal_ticks * per_tick + 32) / 64);
    sh_put_uint(" open16_insns=", (open_ticks * per_tick + 32) / 64);
    sh_put_uint(" stack=", (unsigned)stack_high_water());
    sh_put_uint(" failures=", (unsigned)!ok);
    sh_puts("\n");
    return !ok;
}
