/* The PSA adapter of the meshseal firmwares: the MeshsealAead callbacks on PSA Crypto (Mbed TLS
 * 2.28), with the group key (CCM-8) and the privacy key (ECB) as opaque PSA key ids, and the
 * counter-store callbacks. What a device team writes once to put meshseal on its PSA; main.c
 * and device.c share it. */
#ifndef MESHSEAL_PSA_PLATFORM_H
#define MESHSEAL_PSA_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#include "psa/crypto.h"

#define CCM8 PSA_ALG_AEAD_WITH_SHORTENED_TAG(PSA_ALG_CCM, 8)

/* The engine the callbacks get as `user`: its key ids, the calls it took, and a switch that
 * makes every call fail (to test how meshseal handles a failing engine). */
struct engine {
    psa_key_id_t ccm, ecb;
    unsigned calls;
    int fail;
};

int32_t psa_seal(void *user, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                 uint8_t *buf, size_t len, uint8_t *tag);
int32_t psa_open(void *user, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                 uint8_t *buf, size_t len, const uint8_t *tag);
int32_t psa_mask(void *user, const uint8_t *block, uint8_t *out);
/* The sender's counter record (a device keeps it in flash), for the MeshsealLoadFn and
 * MeshsealStoreFn callbacks below: pass its address as their `user`. */
struct counter_record {
    uint64_t limit;
    int present;
};

int32_t counter_load(void *user, uint64_t *limit);
int32_t counter_store(void *user, uint64_t limit);

/* Imports a 16-byte AES key for `alg`; 0 if PSA refuses it. */
psa_key_id_t import_key(const uint8_t key[16], psa_key_usage_t usage, psa_algorithm_t alg);

#endif
