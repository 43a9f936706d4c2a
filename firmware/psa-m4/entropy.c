/* The "hardware" entropy source Mbed TLS's CTR-DRBG asks for (MBEDTLS_ENTROPY_HARDWARE_ALT):
 * a fixed pattern, enough for a test firmware that draws no secret from it (meshseal never asks
 * PSA for randomness; keys are imported). */
#include <stddef.h>

int mbedtls_hardware_poll(void *data, unsigned char *out, size_t len, size_t *olen);

int mbedtls_hardware_poll(void *data, unsigned char *out, size_t len, size_t *olen) {
    (void)data;
    for (size_t i = 0; i < len; i++) out[i] = (unsigned char)(i * 131u + 7u);
    *olen = len;
    return 0;
}
