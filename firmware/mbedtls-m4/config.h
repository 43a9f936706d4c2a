/* Mbed TLS 2.28 configuration for the comparison build: a DTLS 1.2 client with one cipher
 * suite, TLS_PSK_WITH_AES_128_CCM_8, following the library's own minimal
 * configs/config-ccm-psk-dtls1_2.h with the server side, sockets, cookies and the timing
 * module left out (the firmware supplies I/O and timer callbacks) and a hardware entropy
 * source instead of the operating system's. */
#ifndef MBEDTLS_CONFIG_H
#define MBEDTLS_CONFIG_H

#define MBEDTLS_AES_C
#define MBEDTLS_CCM_C
#define MBEDTLS_CIPHER_C
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_ENTROPY_C
#define MBEDTLS_MD_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_TLS_C

#define MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_DTLS
#define MBEDTLS_SSL_DTLS_ANTI_REPLAY
#define MBEDTLS_SSL_DTLS_HELLO_VERIFY

#define MBEDTLS_SSL_CIPHERSUITES MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8
#define MBEDTLS_SSL_MAX_CONTENT_LEN 256
#define MBEDTLS_AES_ROM_TABLES
#define MBEDTLS_PSK_MAX_LEN 16

#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_ENTROPY_HARDWARE_ALT
#define MBEDTLS_ENTROPY_MAX_SOURCES 2

#include "mbedtls/check_config.h"
#endif
