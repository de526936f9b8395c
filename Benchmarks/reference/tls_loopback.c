/*
 * tls_loopback.c: TLSKit's C reference for the loopback TCP workloads. A server thread and
 * a client (the main thread) in one process, blocking sockets on 127.0.0.1 with
 * TCP_NODELAY, OpenSSL reading and writing the descriptors itself (SSL_set_fd). It is the
 * plain-C counterpart of TLSKitBench's socket modes (a TLSKitNIO server and a TLSSocket
 * client), so it does what they do, step for step. One JSON line per run on stdout.
 *
 *   tls_loopback handshake [--cert ecdsa|rsa] [--iters 1000] [--warmup 50]
 *   tls_loopback bulk [--cipher aes128|aes256|chacha] [--mib 256]
 *   (both: --certdir DIR, default "certs"; --release-buffers 1|0, default 1)
 *
 * handshake: one connection at a time: connect, full handshake, the client sends close_notify
 *   and reads until the server's (taking in the two tickets on the way), both close.
 * bulk: one connection; after the handshake the clock starts, the client writes `mib` MiB in
 *   16 KiB writes, and the clock stops when the server, having read them all, has answered
 *   with one byte. Both threads run at once, so CPU time is the whole process's.
 */
#include "bench_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    SSL_CTX *context;
    int listener;
    long connections; /* handshake: how many to accept */
    long bytes;       /* bulk: how many to read before answering */
} Server;

static void no_delay(int fd) {
    int on = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) fail("TCP_NODELAY");
}

/* Listens on 127.0.0.1 at a port the kernel picks; returns the descriptor and the address. */
static int listen_on_loopback(struct sockaddr_in *address) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    memset(address, 0, sizeof *address);
    address->sin_family = AF_INET;
    address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof *address;
    if (bind(fd, (struct sockaddr *)address, length) != 0) fail("bind");
    if (getsockname(fd, (struct sockaddr *)address, &length) != 0) fail("getsockname");
    if (listen(fd, 64) != 0) fail("listen");
    return fd;
}

static int dial(const struct sockaddr_in *address) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket");
    if (connect(fd, (const struct sockaddr *)address, sizeof *address) != 0) fail("connect");
    no_delay(fd);
    return fd;
}

static SSL *serve_one(Server *server, int *fd) {
    *fd = accept4(server->listener, NULL, NULL, SOCK_CLOEXEC);
    if (*fd < 0) fail("accept");
    no_delay(*fd);
    SSL *ssl = SSL_new(server->context);
    if (ssl == NULL || !SSL_set_fd(ssl, *fd)) fail("server SSL");
    if (SSL_accept(ssl) != 1) fail("server handshake");
    return ssl;
}

/* Reads (and drops) until the peer's close_notify; any other end is fatal. */
static void read_to_close_notify(SSL *ssl, const char *who) {
    unsigned char buffer[256];
    int n;
    while ((n = SSL_read(ssl, buffer, sizeof buffer)) > 0) {}
    if (SSL_get_error(ssl, n) != SSL_ERROR_ZERO_RETURN) fail("%s: the connection ended without close_notify", who);
}

static void finish(SSL *ssl, int fd, const char *who) {
    read_to_close_notify(ssl, who);
    if (SSL_shutdown(ssl) != 1) fail("%s: close_notify", who);
    SSL_free(ssl);
    close(fd);
}

static void *handshake_server(void *argument) {
    Server *server = argument;
    for (long i = 0; i < server->connections; i++) {
        int fd;
        SSL *ssl = serve_one(server, &fd);
        finish(ssl, fd, "server"); /* the client closes first; answer and close */
    }
    return NULL;
}

static SSL *connect_client(SSL_CTX *context, int fd) {
    SSL *ssl = client_connection(context);
    if (!SSL_set_fd(ssl, fd)) fail("SSL_set_fd");
    if (SSL_connect(ssl) != 1) fail("client handshake");
    return ssl;
}

static void handshakes(Server *server, SSL_CTX *client, const struct sockaddr_in *address) {
    const char *cert = option("cert", "ecdsa");
    long iterations = option_number("iters", 1000), warmup = option_number("warmup", 50);
    server->connections = warmup + iterations;
    pthread_t thread;
    if (pthread_create(&thread, NULL, handshake_server, server) != 0) fail("pthread_create");
    Stopwatch start = stopwatch_start();
    for (long i = 0; i < warmup + iterations; i++) {
        if (i == warmup) start = stopwatch_start();
        int fd = dial(address);
        SSL *ssl = connect_client(client, fd);
        if (i == 0 && SSL_get_verify_result(ssl) != X509_V_OK) fail("the server was not verified");
        if (SSL_shutdown(ssl) < 0) fail("client close_notify");
        read_to_close_notify(ssl, "client"); /* the tickets, then the server's close_notify */
        SSL_free(ssl);
        close(fd);
    }
    Stopwatch took = iterations > 0 ? stopwatch_elapsed(start) : (Stopwatch){0, 0};
    pthread_join(thread, NULL);
    printf("{\"impl\":\"%s\",\"bench\":\"handshake\",\"transport\":\"loopback-tcp\",\"cert\":\"%s\",\"iters\":%ld,"
           "\"wall_s\":%.6f,\"cpu_s\":%.6f,\"hs_per_s\":%.1f,\"hs_per_cpu_s\":%.1f}\n",
           implementation("-socket"), cert, iterations, took.wall, took.cpu, rate((double)iterations, took.wall),
           rate((double)iterations, took.cpu));
}

static void *bulk_server(void *argument) {
    Server *server = argument;
    int fd;
    SSL *ssl = serve_one(server, &fd);
    unsigned char *buffer = malloc(16384);
    if (buffer == NULL) fail("malloc");
    for (long got = 0; got < server->bytes;) {
        int n = SSL_read(ssl, buffer, 16384);
        if (n <= 0) fail("server read ended at %ld bytes", got);
        got += n;
    }
    unsigned char done = 1;
    if (SSL_write(ssl, &done, 1) != 1) fail("server acknowledgement");
    free(buffer);
    finish(ssl, fd, "server");
    return NULL;
}

static void bulk(Server *server, SSL_CTX *client, const struct sockaddr_in *address, const char *suite) {
    long mib = option_number("mib", 256);
    server->bytes = mib << 20;
    pthread_t thread;
    if (pthread_create(&thread, NULL, bulk_server, server) != 0) fail("pthread_create");
    int fd = dial(address);
    SSL *ssl = connect_client(client, fd);
    if (strcmp(SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)), suite) != 0) fail("not %s", suite);
    unsigned char *chunk = malloc(16384);
    if (chunk == NULL) fail("malloc");
    memset(chunk, 'a', 16384);
    Stopwatch start = stopwatch_start();
    for (long sent = 0; sent < server->bytes; sent += 16384)
        if (SSL_write(ssl, chunk, 16384) != 16384) fail("short SSL_write");
    unsigned char answer = 0;
    int n; /* the tickets come first; SSL_read skips them */
    if ((n = SSL_read(ssl, &answer, 1)) != 1 || answer != 1) fail("no acknowledgement from the server");
    Stopwatch took = stopwatch_elapsed(start);
    if (SSL_shutdown(ssl) < 0) fail("client close_notify");
    read_to_close_notify(ssl, "client");
    SSL_free(ssl);
    close(fd);
    pthread_join(thread, NULL);
    free(chunk);
    double bytes = (double)server->bytes;
    printf("{\"impl\":\"%s\",\"bench\":\"bulk\",\"transport\":\"loopback-tcp\",\"cipher\":\"%s\",\"write_size\":16384,"
           "\"bytes\":%ld,\"wall_s\":%.6f,\"cpu_s\":%.6f,\"MBps\":%.1f,\"MBps_cpu\":%.1f}\n",
           implementation("-socket"), option("cipher", "aes128"), server->bytes, took.wall, took.cpu,
           rate(bytes / 1e6, took.wall), rate(bytes / 1e6, took.cpu));
}

int main(int argc, char **argv) {
    bench_argc = argc;
    bench_argv = argv;
    const char *mode = argc > 1 ? argv[1] : "";
    int is_handshake = strcmp(mode, "handshake") == 0;
    if (!is_handshake && strcmp(mode, "bulk") != 0) {
        fprintf(stderr, "usage: %s handshake|bulk [--option value]...\n", argv[0]);
        return 2;
    }
    const char *cert = is_handshake ? option("cert", "ecdsa") : "ecdsa";
    const char *suite = suite_for(is_handshake ? "aes128" : option("cipher", "aes128"));
    int release_buffers = (int)option_number("release-buffers", 1);
    struct sockaddr_in address;
    Server server = {server_context(cert, suite, release_buffers), listen_on_loopback(&address), 0, 0};
    SSL_CTX *client = client_context(cert, suite, release_buffers);
    if (is_handshake) handshakes(&server, client, &address);
    else bulk(&server, client, &address, suite);
    close(server.listener);
    SSL_CTX_free(client);
    SSL_CTX_free(server.context);
    return fflush(stdout) == 0 ? 0 : 1;
}
