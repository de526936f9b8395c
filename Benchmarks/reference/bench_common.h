/*
 * bench_common.h: what TLSKit's two C reference programs share (option lookup, clocks,
 * the OpenSSL contexts and the JSON line). Plain OpenSSL 3, nothing from TLSKit.
 *
 * The contexts are set up the way Benchmarks/Sources/TLSKitBench sets up TLSKit's:
 * TLS 1.3 only, one cipher suite (TLS_AES_128_GCM_SHA256 unless asked otherwise),
 * the group left at OpenSSL's default (X25519), the client verifying the server's chain
 * against `<cert>-ca.pem` and the name "localhost", the server sending OpenSSL's default
 * two session tickets and keeping no session cache (stateless tickets only). Only the
 * `resume` workload of tls_memory.c lets the client keep and offer tickets.
 */
#ifndef TLSKIT_BENCH_COMMON_H
#define TLSKIT_BENCH_COMMON_H

#define _GNU_SOURCE
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int bench_argc;
static char **bench_argv;

/* Stops the program with a reason and whatever OpenSSL queued. */
static void fail(const char *format, ...) {
    va_list args;
    va_start(args, format);
    fputs("fatal: ", stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* The value after `--name`, or `fallback`. Options follow the mode word (argv[1]). */
static const char *option(const char *name, const char *fallback) {
    size_t length = strlen(name);
    for (int i = 2; i < bench_argc - 1; i++) {
        const char *word = bench_argv[i];
        if (word[0] == '-' && word[1] == '-' && strncmp(word + 2, name, length) == 0 && word[2 + length] == '\0')
            return bench_argv[i + 1];
    }
    return fallback;
}

static long option_number(const char *name, long fallback) {
    const char *text = option(name, NULL);
    if (text == NULL) return fallback;
    char *end = NULL;
    long value = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || value < 0) fail("--%s wants a number, not '%s'", name, text);
    return value;
}

static double seconds_on(clockid_t clock) {
    struct timespec t;
    clock_gettime(clock, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Wall time and CPU time of the whole process (every thread), as TLSKitBench measures. */
typedef struct {
    double wall, cpu;
} Stopwatch;

static Stopwatch stopwatch_start(void) {
    Stopwatch s = {seconds_on(CLOCK_MONOTONIC), seconds_on(CLOCK_PROCESS_CPUTIME_ID)};
    return s;
}

static Stopwatch stopwatch_elapsed(Stopwatch since) {
    Stopwatch s = {seconds_on(CLOCK_MONOTONIC) - since.wall, seconds_on(CLOCK_PROCESS_CPUTIME_ID) - since.cpu};
    return s;
}

static double rate(double amount, double seconds) { return seconds > 0 ? amount / seconds : 0; }

static const char *suite_for(const char *cipher) {
    static const struct {
        const char *short_name, *suite;
    } table[] = {
        {"aes128", "TLS_AES_128_GCM_SHA256"},
        {"aes256", "TLS_AES_256_GCM_SHA384"},
        {"chacha", "TLS_CHACHA20_POLY1305_SHA256"},
        {"chacha20", "TLS_CHACHA20_POLY1305_SHA256"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].short_name, cipher) == 0) return table[i].suite;
    fail("--cipher is aes128, aes256 or chacha20 (chacha), not '%s'", cipher);
    return NULL;
}

/* `<certdir>/<cert>-<part>`, e.g. certs/ecdsa-leaf.pem */
static const char *cert_path(const char *cert, const char *part) {
    static char paths[4][1024];
    static int next = 0;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s-%s", option("certdir", "certs"), cert, part);
    return path;
}

static SSL_CTX *tls13_context(const SSL_METHOD *method, const char *suite, int release_buffers) {
    SSL_CTX *context = SSL_CTX_new(method);
    if (context == NULL) fail("SSL_CTX_new");
    if (!SSL_CTX_set_min_proto_version(context, TLS1_3_VERSION)) fail("TLS 1.3 floor");
    if (!SSL_CTX_set_ciphersuites(context, suite)) fail("cipher suite %s", suite);
    if (release_buffers) SSL_CTX_set_mode(context, SSL_MODE_RELEASE_BUFFERS);
    return context;
}

static SSL_CTX *server_context(const char *cert, const char *suite, int release_buffers) {
    SSL_CTX *context = tls13_context(TLS_server_method(), suite, release_buffers);
    if (SSL_CTX_use_certificate_chain_file(context, cert_path(cert, "leaf.pem")) != 1)
        fail("server certificate %s", cert_path(cert, "leaf.pem"));
    if (SSL_CTX_use_PrivateKey_file(context, cert_path(cert, "leaf.key"), SSL_FILETYPE_PEM) != 1)
        fail("server key %s", cert_path(cert, "leaf.key"));
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    return context;
}

static SSL_CTX *client_context(const char *cert, const char *suite, int release_buffers) {
    SSL_CTX *context = tls13_context(TLS_client_method(), suite, release_buffers);
    if (SSL_CTX_load_verify_locations(context, cert_path(cert, "ca.pem"), NULL) != 1)
        fail("trust anchor %s", cert_path(cert, "ca.pem"));
    SSL_CTX_set_verify(context, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_session_cache_mode(context, SSL_SESS_CACHE_OFF);
    return context;
}

/* A client connection that checks the server is "localhost" (SNI and certificate name). */
static SSL *client_connection(SSL_CTX *context) {
    SSL *ssl = SSL_new(context);
    if (ssl == NULL) fail("SSL_new (client)");
    if (!SSL_set_tlsext_host_name(ssl, "localhost") || !SSL_set1_host(ssl, "localhost")) fail("server name");
    return ssl;
}

static const char *implementation(const char *transport) {
    static char name[96];
    snprintf(name, sizeof name, "c-openssl-%s%s", OpenSSL_version(OPENSSL_VERSION_STRING), transport);
    return name;
}

#endif
