/* Mbed TLS 2.28 configuration of a device that already has AES-128-CCM through PSA Crypto (as
 * the customer's devices do for their DTLS-PAKE join): PSA with AES, CCM and ECB (one block,
 * for header privacy), volatile keys only, a hardware entropy source. Both the baseline and the
 * meshseal firmware are built with it, so their difference is meshseal's marginal cost. */
#ifndef MBEDTLS_CONFIG_H
#define MBEDTLS_CONFIG_H

#define MBEDTLS_AES_C
#define MBEDTLS_CCM_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_PSA_CRYPTO_C

#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT
#define MBEDTLS_ENTROPY_MAX_SOURCES 2
#define MBEDTLS_PSA_KEY_SLOT_COUNT 4

#include "mbedtls/check_config.h"
#endif
