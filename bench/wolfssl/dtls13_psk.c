/* DTLS 1.3 with an external PSK and TLS13-AES128-CCM-8-SHA256 between two wolfSSL peers, for
 * `meshseal compare --measure` (crates/meshseal-cost/src/measure.rs), which runs both on
 * loopback with its counting relay between them.
 *
 *   dtls13_psk server PORT   listens on 127.0.0.1:PORT for one client; prints "listening",
 *                            then "received N" per record, "closed" at the client's close_notify
 *   dtls13_psk client PORT   connects through 127.0.0.1:PORT, prints "version V" and
 *                            "handshake done"; then reads one size per line on stdin, sends a
 *                            record of that many bytes and prints "sent N" (or "refused N R E":
 *                            wolfSSL_write's return value and error code);
 *                            at end of input sends close_notify and prints "closed R E"
 *                            (wolfSSL_shutdown's return value and error code)
 *
 * The key exchange is psk_ke (no ECDHE key share, no session ticket), the comparable setting
 * to DTLS 1.2's TLS_PSK_WITH_AES_128_CCM_8. The server keeps wolfSSL's default for DTLS 1.3,
 * a HelloRetryRequest with a cookie before it commits state. */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const unsigned char KEY[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const char IDENTITY[] = "meshseal-client";
static const char SUITE[] = "TLS13-AES128-CCM-8-SHA256";

/* The TLS 1.3 callbacks bind the key to its suite; the older ones bind it to wolfSSL's
 * default (AES-128-GCM), and the server then finds no suite for the PSK. */
static unsigned int client_psk(WOLFSSL *ssl, const char *hint, char *identity,
                               unsigned int id_max, unsigned char *key, unsigned int key_max,
                               const char **suite) {
    (void)ssl;
    (void)hint;
    *suite = SUITE;
    if (id_max < sizeof IDENTITY || key_max < sizeof KEY) return 0;
    memcpy(identity, IDENTITY, sizeof IDENTITY);
    memcpy(key, KEY, sizeof KEY);
    return sizeof KEY;
}

static unsigned int server_psk(WOLFSSL *ssl, const char *identity, unsigned char *key,
                               unsigned int key_max, const char **suite) {
    (void)ssl;
    *suite = SUITE;
    if (strcmp(identity, IDENTITY) != 0 || key_max < sizeof KEY) return 0;
    memcpy(key, KEY, sizeof KEY);
    return sizeof KEY;
}

static void fail(const char *what, WOLFSSL *ssl, int ret) {
    char text[WOLFSSL_MAX_ERROR_SZ] = "";
    if (ssl) wolfSSL_ERR_error_string((unsigned long)wolfSSL_get_error(ssl, ret), text);
    fprintf(stderr, "%s failed: %d %s\n", what, ret, text);
    exit(1);
}

static WOLFSSL *session(int server, int fd, struct sockaddr_in *peer) {
    WOLFSSL_CTX *ctx =
        wolfSSL_CTX_new(server ? wolfDTLSv1_3_server_method() : wolfDTLSv1_3_client_method());
    if (!ctx) fail("context", NULL, 0);
    if (wolfSSL_CTX_set_cipher_list(ctx, SUITE) != WOLFSSL_SUCCESS) fail("suite", NULL, 0);
    if (server) {
        wolfSSL_CTX_set_psk_server_tls13_callback(ctx, server_psk);
        wolfSSL_CTX_no_ticket_TLSv13(ctx);
    } else {
        wolfSSL_CTX_set_psk_client_tls13_callback(ctx, client_psk);
    }
    WOLFSSL *ssl = wolfSSL_new(ctx);
    if (!ssl) fail("session", NULL, 0);
    if (wolfSSL_no_dhe_psk(ssl) != 0) fail("psk_ke only", ssl, 0);
    if (!server && wolfSSL_NoKeyShares(ssl) != WOLFSSL_SUCCESS) fail("no key shares", ssl, 0);
    wolfSSL_set_fd(ssl, fd);
    if (wolfSSL_dtls_set_peer(ssl, peer, sizeof *peer) != WOLFSSL_SUCCESS) fail("peer", ssl, 0);
    return ssl;
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int run_server(int port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in me = loopback(port), peer;
    socklen_t len = sizeof peer;
    if (bind(fd, (struct sockaddr *)&me, sizeof me) != 0) fail("bind", NULL, 0);
    printf("listening\n");
    fflush(stdout);
    char probe[1];
    if (recvfrom(fd, probe, sizeof probe, MSG_PEEK, (struct sockaddr *)&peer, &len) < 0)
        fail("first datagram", NULL, 0);
    if (connect(fd, (struct sockaddr *)&peer, len) != 0) fail("connect", NULL, 0);
    WOLFSSL *ssl = session(1, fd, &peer);
    int ret = wolfSSL_accept(ssl);
    if (ret != WOLFSSL_SUCCESS) fail("accept", ssl, ret);
    unsigned char buf[2048];
    for (;;) {
        ret = wolfSSL_read(ssl, buf, sizeof buf);
        if (ret > 0) {
            printf("received %d\n", ret);
            fflush(stdout);
            continue;
        }
        if (wolfSSL_get_error(ssl, ret) == WOLFSSL_ERROR_ZERO_RETURN) break;
        fail("read", ssl, ret);
    }
    wolfSSL_shutdown(ssl);
    printf("closed\n");
    return 0;
}

static int run_client(int port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in relay = loopback(port);
    if (connect(fd, (struct sockaddr *)&relay, sizeof relay) != 0) fail("connect", NULL, 0);
    WOLFSSL *ssl = session(0, fd, &relay);
    printf("version %s\n", wolfSSL_lib_version());
    int ret = wolfSSL_connect(ssl);
    if (ret != WOLFSSL_SUCCESS) fail("connect", ssl, ret);
    printf("handshake done %s %s\n", wolfSSL_get_version(ssl), wolfSSL_get_cipher(ssl));
    fflush(stdout);
    char line[64];
    static unsigned char payload[2048];
    memset(payload, 'x', sizeof payload);
    while (fgets(line, sizeof line, stdin)) {
        int n = atoi(line);
        if (n <= 0 || n > (int)sizeof payload) continue;
        ret = wolfSSL_write(ssl, payload, n);
        if (ret == n)
            printf("sent %d\n", n);
        else
            printf("refused %d %d %d\n", n, ret, wolfSSL_get_error(ssl, ret));
        fflush(stdout);
    }
    ret = wolfSSL_shutdown(ssl);
    printf("closed %d %d\n", ret, ret == WOLFSSL_SUCCESS ? 0 : wolfSSL_get_error(ssl, ret));
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s server|client PORT\n", argv[0]);
        return 2;
    }
    wolfSSL_Init();
    int port = atoi(argv[2]);
    return strcmp(argv[1], "server") == 0 ? run_server(port) : run_client(port);
}
