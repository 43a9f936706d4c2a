/* The MeshsealAead callbacks on PSA Crypto and the counter-store callbacks (platform.h). */
#include <string.h>

#include "platform.h"

/* PSA takes ciphertext‖tag in one buffer and writes to another: the frame's bytes change only
 * when the call succeeded (on open: when the tag verified). */
static uint8_t scratch_in[320], scratch_out[320];

int32_t psa_seal(void *user, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                 uint8_t *buf, size_t len, uint8_t *tag) {
    struct engine *e = user;
    size_t n = 0;
    e->calls++;
    if (e->fail || len + 8 > sizeof scratch_out) return -1;
    if (psa_aead_encrypt(e->ccm, CCM8, nonce, 13, aad, aad_len, buf, len, scratch_out,
                         sizeof scratch_out, &n) != PSA_SUCCESS || n != len + 8)
        return -1;
    memcpy(buf, scratch_out, len);
    memcpy(tag, scratch_out + len, 8);
    return 0;
}

int32_t psa_open(void *user, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                 uint8_t *buf, size_t len, const uint8_t *tag) {
    struct engine *e = user;
    size_t n = 0;
    e->calls++;
    if (e->fail || len + 8 > sizeof scratch_in) return -1;
    memcpy(scratch_in, buf, len);
    memcpy(scratch_in + len, tag, 8);
    psa_status_t s = psa_aead_decrypt(e->ccm, CCM8, nonce, 13, aad, aad_len, scratch_in, len + 8,
                                      scratch_out, sizeof scratch_out, &n);
    if (s == PSA_ERROR_INVALID_SIGNATURE) return 1;
    if (s != PSA_SUCCESS || n != len) return -1;
    memcpy(buf, scratch_out, len);
    return 0;
}

int32_t psa_mask(void *user, const uint8_t *block, uint8_t *out) {
    struct engine *e = user;
    size_t n = 0;
    e->calls++;
    if (e->fail) return -1;
    return psa_cipher_encrypt(e->ecb, PSA_ALG_ECB_NO_PADDING, block, 16, out, 16, &n) ==
                       PSA_SUCCESS && n == 16 ? 0 : -1;
}

psa_key_id_t import_key(const uint8_t key[16], psa_key_usage_t usage, psa_algorithm_t alg) {
    psa_key_attributes_t at = PSA_KEY_ATTRIBUTES_INIT;
    psa_set_key_type(&at, PSA_KEY_TYPE_AES);
    psa_set_key_bits(&at, 128);
    psa_set_key_usage_flags(&at, usage);
    psa_set_key_algorithm(&at, alg);
    psa_key_id_t id = 0;
    return psa_import_key(&at, key, 16, &id) == PSA_SUCCESS ? id : 0;
}

int32_t counter_load(void *user, uint64_t *limit) {
    const struct counter_record *r = user;
    if (!r->present) return 0;
    *limit = r->limit;
    return 1;
}

int32_t counter_store(void *user, uint64_t limit) {
    struct counter_record *r = user;
    r->limit = limit;
    r->present = 1;
    return 0;
}
