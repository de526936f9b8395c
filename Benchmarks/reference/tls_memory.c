/*
 * tls_memory.c: TLSKit's C reference for the in-memory workloads. A client and a server SSL
 * in one thread, each with its own pair of memory BIOs; the harness moves the bytes between
 * them through one 64 KiB buffer it owns, as TLSKitBench moves them between two TLSKit
 * connections with drainOutput(into:) and receive(_:). No sockets, no threads: the cost of
 * TLS through OpenSSL and nothing else. One JSON line per run on stdout.
 *
 *   tls_memory handshake [--cert ecdsa|rsa] [--iters 1000] [--warmup 50]
 *   tls_memory resume [--cert ecdsa|rsa] [--iters 1000] [--warmup 50] [--renew 1|0]
 *   tls_memory bulk [--cipher aes128|aes256|chacha20] [--mib 1024] [--warmup-mib 16]
 *   tls_memory memory [--conns 1000]
 *   (every mode: --certdir DIR, default "certs", holding <cert>-ca.pem, -leaf.pem, -leaf.key;
 *    --release-buffers 1|0, default 1: SSL_MODE_RELEASE_BUFFERS, as TLSKit's OpenSSL backend sets it)
 *
 * handshake: per iteration, two new SSL objects, a full handshake, the client reads the two
 *   NewSessionTickets, close_notify both ways, both freed. Rates per wall and per CPU second.
 * resume: TLS 1.3 resumption (PSK with an X25519 key share, psk_dhe_ke). The client keeps
 *   the latest ticket it received (new-session callback) and offers it once, as TLSKit's
 *   client cache does. Per iteration: one connection that is not measured hands the client
 *   a fresh ticket (the first is a full handshake; later ones resume with the ticket left
 *   by the measured connection before, if any), then the measured one: both SSL objects
 *   made, the ticket offered, the resumed handshake, whatever tickets the server sends after
 *   it read (OpenSSL sends one after a resumption; --renew 0: none, as TLSKit's GnuTLS server),
 *   close_notify both ways, both freed. The unmeasured connection is there because a GnuTLS
 *   TLS 1.3 server in TLSKit issues tickets after full handshakes only: every program measures
 *   the same thing, a resumed handshake with a ticket from the connection just before it.
 *   Fails unless every measured handshake was resumed on both sides with the suite asked.
 *   CPU and wall time are summed over the measured connections only; under callgrind
 *   (--collect-atstart=no) collection is switched on for them only (CALLGRIND_TOGGLE_COLLECT).
 * bulk: one connection; 16 KiB client writes, moved across, read by the server into 16 KiB.
 * memory: heap (mallinfo2) and RSS growth for `conns` established idle pairs, per pair.
 */
#include "bench_common.h"

#include <malloc.h>
#include <unistd.h>
#include <valgrind/callgrind.h> /* client requests: a few no-op instructions outside valgrind */

typedef struct {
    SSL *ssl;
    BIO *inbox;  /* bytes from the peer, read by this SSL */
    BIO *outbox; /* bytes this SSL wrote for the peer */
} Endpoint;

typedef struct {
    Endpoint client, server;
} Link;

static unsigned char transfer_buffer[64 * 1024];

static BIO *memory_bio(void) {
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio == NULL) fail("BIO_new");
    BIO_set_mem_eof_return(bio, -1); /* empty means "try again", not end of stream */
    return bio;
}

static void endpoint_open(Endpoint *e, SSL *ssl) {
    e->ssl = ssl;
    e->inbox = memory_bio();
    e->outbox = memory_bio();
    SSL_set_bio(ssl, e->inbox, e->outbox); /* the SSL owns both from here on */
}

/* Everything `from` has written so far goes to `to`'s inbox. */
static void carry(Endpoint *from, Endpoint *to) {
    int n;
    while ((n = BIO_read(from->outbox, transfer_buffer, (int)sizeof transfer_buffer)) > 0)
        if (BIO_write(to->inbox, transfer_buffer, n) != n) fail("BIO_write");
}

/* 1 when the call finished, 0 when it wants the peer's bytes; anything else is fatal. */
static int finished(SSL *ssl, int result, const char *step) {
    if (result > 0) return 1;
    int error = SSL_get_error(ssl, result);
    if (error != SSL_ERROR_WANT_READ) fail("%s: SSL_get_error %d", step, error);
    return 0;
}

/* Both SSL objects, the client offering `ticket` (taken: freed here) when there is one. */
static void link_start(Link *link, SSL_CTX *client, SSL_CTX *server, SSL_SESSION *ticket) {
    endpoint_open(&link->client, client_connection(client));
    SSL *ssl = SSL_new(server);
    if (ssl == NULL) fail("SSL_new (server)");
    endpoint_open(&link->server, ssl);
    SSL_set_connect_state(link->client.ssl);
    SSL_set_accept_state(link->server.ssl);
    if (ticket != NULL) {
        if (!SSL_set_session(link->client.ssl, ticket)) fail("SSL_set_session");
        SSL_SESSION_free(ticket);
    }
}

static void link_handshake(Link *link) {
    int client_done = 0, server_done = 0;
    for (int round = 0; !(client_done && server_done); round++) {
        if (round > 64) fail("the handshake does not progress");
        if (!client_done) client_done = finished(link->client.ssl, SSL_do_handshake(link->client.ssl), "client handshake");
        carry(&link->client, &link->server);
        if (!server_done) server_done = finished(link->server.ssl, SSL_do_handshake(link->server.ssl), "server handshake");
        carry(&link->server, &link->client);
    }
    /* The tickets arrived after the client finished; reading consumes them. */
    unsigned char byte;
    if (finished(link->client.ssl, SSL_read(link->client.ssl, &byte, 1), "ticket read"))
        fail("application data during the handshake");
}

static void link_open(Link *link, SSL_CTX *client, SSL_CTX *server) {
    link_start(link, client, server, NULL);
    link_handshake(link);
}

static void link_close(Link *link) {
    unsigned char byte;
    if (SSL_shutdown(link->client.ssl) < 0) fail("client close_notify");
    carry(&link->client, &link->server);
    int result = SSL_read(link->server.ssl, &byte, 1);
    if (result > 0 || SSL_get_error(link->server.ssl, result) != SSL_ERROR_ZERO_RETURN) fail("no close_notify at the server");
    if (SSL_shutdown(link->server.ssl) != 1) fail("server close_notify");
    carry(&link->server, &link->client);
    if (SSL_shutdown(link->client.ssl) != 1) fail("client did not see close_notify");
    SSL_free(link->client.ssl);
    SSL_free(link->server.ssl);
}

static void handshakes(void) {
    const char *cert = option("cert", "ecdsa");
    long iterations = option_number("iters", 1000), warmup = option_number("warmup", 50);
    const char *suite = suite_for("aes128");
    int release_buffers = (int)option_number("release-buffers", 1);
    SSL_CTX *client = client_context(cert, suite, release_buffers);
    SSL_CTX *server = server_context(cert, suite, release_buffers);
    char negotiated[64] = "?", group[32] = "?";
    Stopwatch start = stopwatch_start();
    for (long i = 0; i < warmup + iterations; i++) {
        if (i == warmup) start = stopwatch_start();
        Link link;
        link_open(&link, client, server);
        if (i == 0) {
            if (SSL_get_verify_result(link.client.ssl) != X509_V_OK) fail("the server was not verified");
            snprintf(negotiated, sizeof negotiated, "%s", SSL_CIPHER_get_name(SSL_get_current_cipher(link.client.ssl)));
            const char *name = OBJ_nid2sn(SSL_get_negotiated_group(link.client.ssl) & ~TLSEXT_nid_unknown);
            if (name != NULL) snprintf(group, sizeof group, "%s", name);
        }
        if (SSL_session_reused(link.client.ssl)) fail("a handshake was resumed");
        link_close(&link);
    }
    Stopwatch took = iterations > 0 ? stopwatch_elapsed(start) : (Stopwatch){0, 0};
    printf("{\"impl\":\"%s\",\"bench\":\"handshake\",\"cert\":\"%s\",\"iters\":%ld,\"wall_s\":%.6f,\"cpu_s\":%.6f,"
           "\"hs_per_s\":%.1f,\"hs_per_cpu_s\":%.1f,\"cipher\":\"%s\",\"group\":\"%s\"}\n",
           implementation(""), cert, iterations, took.wall, took.cpu, rate((double)iterations, took.wall),
           rate((double)iterations, took.cpu), negotiated, group);
    SSL_CTX_free(client);
    SSL_CTX_free(server);
}

/* The client's ticket store: the latest ticket received, handed out once (TLSKit's cache). */
static SSL_SESSION *latest_ticket;

static int keep_ticket(SSL *ssl, SSL_SESSION *session) {
    (void)ssl;
    if (latest_ticket != NULL) SSL_SESSION_free(latest_ticket);
    latest_ticket = session;
    return 1; /* the reference is ours now */
}

static SSL_SESSION *take_ticket(void) {
    SSL_SESSION *ticket = latest_ticket;
    latest_ticket = NULL;
    return ticket;
}

/* The measured part of a `resume` iteration; 0 unless resumed on both sides with `suite_id`. */
static int resumed_connection(SSL_CTX *client, SSL_CTX *server, int renew, unsigned suite_id, char *group, size_t size) {
    Link link;
    link_start(&link, client, server, take_ticket());
    if (!renew) SSL_set_num_tickets(link.server.ssl, 0);
    link_handshake(&link);
    int good = SSL_session_reused(link.client.ssl) && SSL_session_reused(link.server.ssl) &&
               SSL_CIPHER_get_protocol_id(SSL_get_current_cipher(link.client.ssl)) == suite_id;
    if (group != NULL) {
        const char *name = OBJ_nid2sn(SSL_get_negotiated_group(link.client.ssl) & ~TLSEXT_nid_unknown);
        snprintf(group, size, "%s", name != NULL ? name : "none");
    }
    link_close(&link);
    return good;
}

static void resumptions(void) {
    const char *cert = option("cert", "ecdsa");
    long iterations = option_number("iters", 1000), warmup = option_number("warmup", 50);
    int renew = (int)option_number("renew", 1);
    const char *suite = suite_for("aes128");
    int release_buffers = (int)option_number("release-buffers", 1);
    SSL_CTX *client = client_context(cert, suite, release_buffers);
    SSL_CTX *server = server_context(cert, suite, release_buffers);
    SSL_CTX_set_session_cache_mode(client, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(client, keep_ticket);
    char group[32] = "?";
    Stopwatch took = {0, 0};
    for (long i = 0; i < warmup + iterations; i++) {
        Link link; /* not measured: hands the client a ticket */
        link_start(&link, client, server, take_ticket());
        link_handshake(&link);
        if (i == 0 && (SSL_session_reused(link.client.ssl) || SSL_get_verify_result(link.client.ssl) != X509_V_OK))
            fail("the first handshake was not a full one with the server verified");
        link_close(&link);
        if (latest_ticket == NULL) fail("no session ticket");
        int measured = i >= warmup;
        Stopwatch start = measured ? stopwatch_start() : (Stopwatch){0, 0};
        if (measured) CALLGRIND_TOGGLE_COLLECT;
        int good = resumed_connection(client, server, renew, 0x1301, i == 0 ? group : NULL, sizeof group);
        if (measured) {
            CALLGRIND_TOGGLE_COLLECT;
            Stopwatch lap = stopwatch_elapsed(start);
            took.wall += lap.wall;
            took.cpu += lap.cpu;
        }
        if (!good) fail("handshake %ld was not resumed with %s", i, suite);
        if (i == 0 && strcmp(group, "X25519") != 0) fail("key exchange %s, not X25519", group);
    }
    if (latest_ticket != NULL) SSL_SESSION_free(take_ticket());
    printf("{\"impl\":\"%s\",\"bench\":\"resume\",\"cert\":\"%s\",\"iters\":%ld,\"renew\":%d,\"wall_s\":%.6f,"
           "\"cpu_s\":%.6f,\"hs_per_s\":%.1f,\"hs_per_cpu_s\":%.1f,\"cipher\":\"%s\",\"group\":\"%s\"}\n",
           implementation(""), cert, iterations, renew, took.wall, took.cpu, rate((double)iterations, took.wall),
           rate((double)iterations, took.cpu), suite, group);
    SSL_CTX_free(client);
    SSL_CTX_free(server);
}

/* Sends `bytes` in 16 KiB writes and has the server read them all. */
static void stream(Link *link, const unsigned char *chunk, unsigned char *sink, long bytes) {
    const int size = 16384;
    for (long sent = 0; sent < bytes; sent += size) {
        if (SSL_write(link->client.ssl, chunk, size) != size) fail("short SSL_write");
        carry(&link->client, &link->server);
        long got = 0;
        while (got < size) {
            int n = SSL_read(link->server.ssl, sink, size);
            if (!finished(link->server.ssl, n, "server read")) fail("server read stalled at %ld bytes", got);
            got += n;
        }
    }
}

static void bulk(void) {
    const char *cipher = option("cipher", "aes128");
    const char *suite = suite_for(cipher);
    long mib = option_number("mib", 1024), warmup_mib = option_number("warmup-mib", 16);
    int release_buffers = (int)option_number("release-buffers", 1);
    SSL_CTX *client = client_context("ecdsa", suite, release_buffers);
    SSL_CTX *server = server_context("ecdsa", suite, release_buffers);
    Link link;
    link_open(&link, client, server);
    if (strcmp(SSL_CIPHER_get_name(SSL_get_current_cipher(link.client.ssl)), suite) != 0) fail("not %s", suite);
    unsigned char *chunk = malloc(16384), *sink = malloc(16384);
    if (chunk == NULL || sink == NULL) fail("malloc");
    for (int i = 0; i < 16384; i++) chunk[i] = (unsigned char)i;
    stream(&link, chunk, sink, warmup_mib << 20);
    long bytes = mib << 20;
    Stopwatch start = stopwatch_start();
    stream(&link, chunk, sink, bytes);
    Stopwatch took = stopwatch_elapsed(start);
    link_close(&link);
    printf("{\"impl\":\"%s\",\"bench\":\"bulk\",\"cipher\":\"%s\",\"suite\":\"%s\",\"write_size\":16384,\"bytes\":%ld,"
           "\"wall_s\":%.6f,\"cpu_s\":%.6f,\"MBps\":%.1f,\"MBps_cpu\":%.1f}\n",
           implementation(""), cipher, suite, bytes, took.wall, took.cpu, rate(bytes / 1e6, took.wall),
           rate(bytes / 1e6, took.cpu));
    free(chunk);
    free(sink);
    SSL_CTX_free(client);
    SSL_CTX_free(server);
}

static long heap_bytes(void) {
    struct mallinfo2 info = mallinfo2();
    return (long)(info.uordblks + info.hblkhd);
}

static long resident_bytes(void) {
    long pages_total = 0, pages_resident = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm == NULL) return 0;
    if (fscanf(statm, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    fclose(statm);
    return pages_resident * sysconf(_SC_PAGESIZE);
}

static void memory(void) {
    long count = option_number("conns", 1000);
    int release_buffers = (int)option_number("release-buffers", 1);
    const char *suite = suite_for("aes128");
    SSL_CTX *client = client_context("ecdsa", suite, release_buffers);
    SSL_CTX *server = server_context("ecdsa", suite, release_buffers);
    for (int i = 0; i < 10; i++) { /* the first connections set up OpenSSL's lazy state */
        Link link;
        link_open(&link, client, server);
        link_close(&link);
    }
    if (count == 0) fail("--conns must be at least 1");
    Link *links = calloc((size_t)count, sizeof *links);
    if (links == NULL) fail("calloc");
    memset(links, 0, (size_t)count * sizeof *links); /* touch the array before the baseline */
    long heap0 = heap_bytes(), resident0 = resident_bytes();
    for (long i = 0; i < count; i++) link_open(&links[i], client, server);
    long heap = heap_bytes() - heap0, resident = resident_bytes() - resident0;
    for (long i = 0; i < count; i++) link_close(&links[i]);
    free(links);
    printf("{\"impl\":\"%s\",\"bench\":\"memory\",\"conns\":%ld,\"release_buffers\":%d,\"heap_per_pair\":%ld,"
           "\"rss_per_pair\":%ld}\n",
           implementation(""), count, release_buffers, heap / count, resident / count);
    SSL_CTX_free(client);
    SSL_CTX_free(server);
}

int main(int argc, char **argv) {
    bench_argc = argc;
    bench_argv = argv;
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "handshake") == 0) handshakes();
    else if (strcmp(mode, "resume") == 0) resumptions();
    else if (strcmp(mode, "bulk") == 0) bulk();
    else if (strcmp(mode, "memory") == 0) memory();
    else {
        fprintf(stderr, "usage: %s handshake|resume|bulk|memory [--option value]...\n", argv[0]);
        return 2;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
