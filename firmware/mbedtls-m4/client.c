/* Comparison: a minimal Mbed TLS DTLS 1.2 PSK client (TLS_PSK_WITH_AES_128_CCM_8) as C
 * firmware would write it. Everything a session needs is linked (handshake, record write and
 * read, close); under QEMU it runs the handshake to its first flight (ClientHello sent, then
 * waiting for the server: there is none) and reports the heap and stack high-water marks
 * reached by then, which are therefore lower bounds for a full session. */
#include <stdint.h>
#include <string.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/ssl.h"

void sh_puts(const char *s);
void sh_put_uint(const char *label, unsigned v);
void stack_paint(void);
size_t stack_high_water(void);
size_t heap_high_water(void);

/* A fixed "hardware" entropy source: measurement only, never for real keys. */
int mbedtls_hardware_poll(void *data, unsigned char *out, size_t len, size_t *olen) {
    (void)data;
    for (size_t i = 0; i < len; i++) out[i] = (unsigned char)(i * 131u + 7u);
    *olen = len;
    return 0;
}

static volatile size_t sent;

static int send_cb(void *ctx, const unsigned char *buf, size_t len) {
    (void)ctx;
    (void)buf;
    sent += len;
    return (int)len;
}

static int recv_cb(void *ctx, unsigned char *buf, size_t len) {
    (void)ctx;
    (void)buf;
    (void)len;
    return MBEDTLS_ERR_SSL_WANT_READ;
}

static uint32_t timer_fin;
static void set_timer(void *ctx, uint32_t int_ms, uint32_t fin_ms) {
    (void)ctx;
    (void)int_ms;
    timer_fin = fin_ms;
}
static int get_timer(void *ctx) {
    (void)ctx;
    return timer_fin == 0 ? -1 : 0;
}

static mbedtls_ssl_context ssl;
static mbedtls_ssl_config conf;
static mbedtls_ctr_drbg_context drbg;
static mbedtls_entropy_context entropy;

__attribute__((noinline)) static int session(void) {
    static const unsigned char psk[16] = "0123456789abcdef";
    static const unsigned char psk_id[] = "node-1";
    static const unsigned char payload[16] = "0123456789abcdef";
    unsigned char buf[64];
    int ret;

    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_config_init(&conf);
    mbedtls_ctr_drbg_init(&drbg);
    mbedtls_entropy_init(&entropy);
    if ((ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, NULL, 0)) != 0) return ret;
    if ((ret = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT,
                                           MBEDTLS_SSL_TRANSPORT_DATAGRAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT)) != 0)
        return ret;
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &drbg);
    if ((ret = mbedtls_ssl_conf_psk(&conf, psk, sizeof psk, psk_id, sizeof psk_id - 1)) != 0) return ret;
    if ((ret = mbedtls_ssl_setup(&ssl, &conf)) != 0) return ret;
    mbedtls_ssl_set_bio(&ssl, NULL, send_cb, recv_cb, NULL);
    mbedtls_ssl_set_timer_cb(&ssl, NULL, set_timer, get_timer);

    ret = mbedtls_ssl_handshake(&ssl);
    if (ret != MBEDTLS_ERR_SSL_WANT_READ || sent == 0) return ret ? ret : -1;
    /* Linked for a complete session; not reached without a server. */
    if (ssl.state == MBEDTLS_SSL_HANDSHAKE_OVER) {
        mbedtls_ssl_write(&ssl, payload, sizeof payload);
        mbedtls_ssl_read(&ssl, buf, sizeof buf);
        mbedtls_ssl_close_notify(&ssl);
    }
    return 0;
}

int main(void) {
    stack_paint();
    int ret = session();
    sh_put_uint("mbedtls stack=", (unsigned)stack_high_water());
    sh_put_uint(" heap=", (unsigned)heap_high_water());
    sh_put_uint(" first_flight_bytes=", (unsigned)sent);
    sh_puts("\n");
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
    return ret == 0 ? 0 : 1;
}
