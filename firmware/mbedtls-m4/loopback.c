/* Comparison, full session: the Mbed TLS DTLS 1.2 PSK client of client.c talks to a server in
 * the same firmware over in-memory datagram queues. Reports, for the client side only: the
 * heap high-water mark, the stack high-water mark over all client calls, the size of its
 * contexts, the bytes each side sent during the handshake, the record overhead for a 16-byte
 * payload, and the instructions executed by mbedtls_ssl_write and mbedtls_ssl_read of that
 * payload (QEMU -icount, SysTick calibrated). Exit status 0 only if the session completed and
 * the payload arrived intact both ways. */
#include <stdint.h>
#include <string.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"
#include "mbedtls/ssl.h"

void sh_puts(const char *s);
void sh_put_uint(const char *label, unsigned v);
void stack_paint(void);
void stack_note(void);
size_t stack_max_seen(void);
size_t heap_high_water(void);
void timer_start(void);
uint32_t timer_now(void);
uint32_t timer_ticks(uint32_t start, uint32_t end);
uint32_t insns_per_tick(void);
extern int heap_side;

int mbedtls_hardware_poll(void *data, unsigned char *out, size_t len, size_t *olen) {
    static unsigned char x = 7;
    (void)data;
    for (size_t i = 0; i < len; i++) out[i] = (unsigned char)(x = (unsigned char)(x * 33u + 17u));
    *olen = len;
    return 0;
}

/* One direction of the link: a queue of datagrams. */
#define SLOTS 8
typedef struct {
    unsigned char data[SLOTS][512];
    size_t len[SLOTS];
    unsigned head, tail;
    size_t bytes, last_len;
} link_t;

static link_t c2s, s2c;
static int handshaking = 1;
static size_t hs_bytes[2];

static int link_send(link_t *l, const unsigned char *buf, size_t len, int side) {
    if (l->tail - l->head == SLOTS || len > sizeof l->data[0]) return MBEDTLS_ERR_SSL_WANT_WRITE;
    memcpy(l->data[l->tail % SLOTS], buf, len);
    l->len[l->tail % SLOTS] = len;
    l->tail++;
    l->last_len = len;
    if (handshaking) hs_bytes[side] += len;
    return (int)len;
}

static int link_recv(link_t *l, unsigned char *buf, size_t len) {
    if (l->head == l->tail) return MBEDTLS_ERR_SSL_WANT_READ;
    size_t n = l->len[l->head % SLOTS];
    if (n > len) n = len;
    memcpy(buf, l->data[l->head % SLOTS], n);
    l->head++;
    return (int)n;
}

static int c_send(void *c, const unsigned char *b, size_t n) { (void)c; return link_send(&c2s, b, n, 0); }
static int c_recv(void *c, unsigned char *b, size_t n) { (void)c; return link_recv(&s2c, b, n); }
static int s_send(void *c, const unsigned char *b, size_t n) { (void)c; return link_send(&s2c, b, n, 1); }
static int s_recv(void *c, unsigned char *b, size_t n) { (void)c; return link_recv(&c2s, b, n); }

typedef struct { uint32_t fin; } dtls_timer;
static void set_timer(void *ctx, uint32_t int_ms, uint32_t fin_ms) {
    (void)int_ms;
    ((dtls_timer *)ctx)->fin = fin_ms;
}
static int get_timer(void *ctx) { return ((dtls_timer *)ctx)->fin == 0 ? -1 : 0; }

typedef struct {
    mbedtls_ssl_context ssl;
    mbedtls_ssl_config conf;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_entropy_context entropy;
    dtls_timer timer;
} side_t;

static side_t client, server;

static int setup(side_t *s, int endpoint) {
    static const unsigned char psk[16] = "0123456789abcdef";
    static const unsigned char psk_id[] = "node-1";
    int ret;
    mbedtls_ssl_init(&s->ssl);
    mbedtls_ssl_config_init(&s->conf);
    mbedtls_ctr_drbg_init(&s->drbg);
    mbedtls_entropy_init(&s->entropy);
    if ((ret = mbedtls_ctr_drbg_seed(&s->drbg, mbedtls_entropy_func, &s->entropy, NULL, 0))) return ret;
    if ((ret = mbedtls_ssl_config_defaults(&s->conf, endpoint, MBEDTLS_SSL_TRANSPORT_DATAGRAM,
                                           MBEDTLS_SSL_PRESET_DEFAULT)))
        return ret;
    mbedtls_ssl_conf_rng(&s->conf, mbedtls_ctr_drbg_random, &s->drbg);
    if ((ret = mbedtls_ssl_conf_psk(&s->conf, psk, sizeof psk, psk_id, sizeof psk_id - 1))) return ret;
    if (endpoint == MBEDTLS_SSL_IS_SERVER) mbedtls_ssl_conf_dtls_cookies(&s->conf, NULL, NULL, NULL);
    if ((ret = mbedtls_ssl_setup(&s->ssl, &s->conf))) return ret;
    if (endpoint == MBEDTLS_SSL_IS_CLIENT)
        mbedtls_ssl_set_bio(&s->ssl, NULL, c_send, c_recv, NULL);
    else
        mbedtls_ssl_set_bio(&s->ssl, NULL, s_send, s_recv, NULL);
    mbedtls_ssl_set_timer_cb(&s->ssl, &s->timer, set_timer, get_timer);
    return 0;
}

static int pending(int ret) {
    return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE;
}

int main(void) {
    static const unsigned char payload[16] = "lamp on, 16 byte";
    unsigned char buf[64];
    int ret;
    timer_start();

    heap_side = 0;
    stack_paint();
    ret = setup(&client, MBEDTLS_SSL_IS_CLIENT);
    stack_note();
    if (ret) { sh_put_uint("client setup failed ", (unsigned)-ret); return 1; }
    heap_side = 1;
    if ((ret = setup(&server, MBEDTLS_SSL_IS_SERVER))) { sh_put_uint("server setup failed ", (unsigned)-ret); return 1; }

    int c_done = 0, s_done = 0;
    for (int round = 0; round < 64 && !(c_done && s_done); round++) {
        if (!c_done) {
            heap_side = 0;
            stack_paint();
            ret = mbedtls_ssl_handshake(&client.ssl);
            stack_note();
            if (ret == 0) c_done = 1;
            else if (!pending(ret)) { sh_put_uint("client handshake error -", (unsigned)-ret); sh_puts("\n"); return 1; }
        }
        if (!s_done) {
            heap_side = 1;
            ret = mbedtls_ssl_handshake(&server.ssl);
            if (ret == 0) s_done = 1;
            else if (!pending(ret)) { sh_put_uint("server handshake error -", (unsigned)-ret); sh_puts("\n"); return 1; }
        }
    }
    if (!(c_done && s_done)) { sh_puts("handshake did not complete\n"); return 1; }
    handshaking = 0;

    /* One 16-byte message each way, timed on the client. */
    uint32_t ipt = insns_per_tick();
    heap_side = 0;
    stack_paint();
    uint32_t t0 = timer_now();
    ret = mbedtls_ssl_write(&client.ssl, payload, sizeof payload);
    uint32_t write_ticks = timer_ticks(t0, timer_now());
    stack_note();
    if (ret != (int)sizeof payload) return 1;
    size_t overhead = c2s.last_len - sizeof payload;
    heap_side = 1;
    ret = mbedtls_ssl_read(&server.ssl, buf, sizeof buf);
    if (ret != (int)sizeof payload || memcmp(buf, payload, sizeof payload)) return 1;
    ret = mbedtls_ssl_write(&server.ssl, buf, (size_t)ret);
    if (ret != (int)sizeof payload) return 1;
    heap_side = 0;
    memset(buf, 0, sizeof buf);
    stack_paint();
    t0 = timer_now();
    ret = mbedtls_ssl_read(&client.ssl, buf, sizeof buf);
    uint32_t read_ticks = timer_ticks(t0, timer_now());
    stack_note();
    if (ret != (int)sizeof payload || memcmp(buf, payload, sizeof payload)) return 1;

    sh_put_uint("loopback client_stack=", (unsigned)stack_max_seen());
    sh_put_uint(" client_heap=", (unsigned)heap_high_water());
    sh_put_uint(" client_contexts=", (unsigned)sizeof client);
    /* What one more kept session costs a controller that shares config, DRBG and entropy. */
    sh_put_uint(" session_context=", (unsigned)sizeof client.ssl);
    sh_put_uint(" session_heap_live=", (unsigned)heap_live());
    sh_put_uint(" handshake_bytes_client=", (unsigned)hs_bytes[0]);
    sh_put_uint(" handshake_bytes_server=", (unsigned)hs_bytes[1]);
    sh_put_uint(" record_overhead=", (unsigned)overhead);
    sh_put_uint(" write_insns=", write_ticks * ipt);
    sh_put_uint(" read_insns=", read_ticks * ipt);
    sh_put_uint(" insns_per_tick=", ipt);
    sh_puts("\n");
    return 0;
}
