// The pipe BIO: see CTLSKitOpenSSLPipe.h. Written against bio(7), BIO_meth_new(3) and
// BIO_should_retry(3) of OpenSSL 3.0.
#include "CTLSKitOpenSSLPipe.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/// Bytes [start, end) of data are queued; data is NULL (and all fields 0) when empty.
typedef struct {
    unsigned char *data;
    size_t start, end, capacity;
} tkp_queue;

typedef struct {
    tkp_queue input;
    tkp_queue output;
    int input_ended;
    // A loan of input: bytes [lent_in, lent_in + lent_in_count) follow the input queue.
    const unsigned char *lent_in;
    size_t lent_in_count;
    // A loan of output space: writes land at lent_out + lent_out_count while the output
    // queue is empty and space is left; the rest goes to the queue (after them).
    unsigned char *lent_out;
    size_t lent_out_count, lent_out_capacity;
} tkp_pipe;

static size_t tkp_count(const tkp_queue *q) { return q->end - q->start; }

static void tkp_clear(tkp_queue *q) {
    free(q->data);
    memset(q, 0, sizeof *q);
}

static int tkp_append(tkp_queue *q, const void *bytes, size_t count) {
    if (count == 0) return 1;
    if (q->capacity - q->end < count) {
        size_t live = tkp_count(q);
        if (count > SIZE_MAX / 2 - live) return 0;
        size_t needed = live + count;
        if (needed <= q->capacity && q->start >= live) {
            // The consumed front is at least as large as what is left: slide the rest down
            // (each byte moves a bounded number of times, so appends stay amortised linear).
            memmove(q->data, q->data + q->start, live);
        } else {
            size_t capacity = q->capacity * 2 > needed ? q->capacity * 2 : needed;
            unsigned char *data = malloc(capacity);
            if (data == NULL) return 0;
            if (live > 0) memcpy(data, q->data + q->start, live);
            free(q->data);
            q->data = data;
            q->capacity = capacity;
        }
        q->start = 0;
        q->end = live;
    }
    memcpy(q->data + q->end, bytes, count);
    q->end += count;
    return 1;
}

static size_t tkp_take(tkp_queue *q, void *buffer, size_t capacity) {
    size_t n = tkp_count(q) < capacity ? tkp_count(q) : capacity;
    if (n == 0) return 0;
    memcpy(buffer, q->data + q->start, n);
    q->start += n;
    if (q->start == q->end) tkp_clear(q);  // empty: hold no storage
    return n;
}

static int tkp_create(BIO *bio) {
    tkp_pipe *pipe = calloc(1, sizeof *pipe);
    if (pipe == NULL) return 0;
    BIO_set_data(bio, pipe);
    BIO_set_init(bio, 1);
    return 1;
}

static int tkp_destroy(BIO *bio) {
    tkp_pipe *pipe = BIO_get_data(bio);
    if (pipe != NULL) {
        tkp_clear(&pipe->input);
        tkp_clear(&pipe->output);
        free(pipe);
        BIO_set_data(bio, NULL);
    }
    return 1;
}

static int tkp_write(BIO *bio, const char *bytes, size_t count, size_t *written) {
    BIO_clear_retry_flags(bio);
    tkp_pipe *pipe = BIO_get_data(bio);
    *written = 0;
    size_t direct = 0;
    if (pipe->lent_out != NULL && tkp_count(&pipe->output) == 0) {
        size_t room = pipe->lent_out_capacity - pipe->lent_out_count;
        direct = count < room ? count : room;
        if (direct > 0) memcpy(pipe->lent_out + pipe->lent_out_count, bytes, direct);
        pipe->lent_out_count += direct;
    }
    if (!tkp_append(&pipe->output, bytes + direct, count - direct)) {
        *written = direct;  // what fit in the loan is written; the rest is refused
        return direct > 0;
    }
    *written = count;
    return 1;
}

/// Up to `capacity` bytes of the loan, after the queue is empty.
static size_t tkp_take_lent(tkp_pipe *pipe, char *buffer, size_t capacity) {
    size_t n = pipe->lent_in_count < capacity ? pipe->lent_in_count : capacity;
    if (n == 0) return 0;
    memcpy(buffer, pipe->lent_in, n);
    pipe->lent_in += n;
    pipe->lent_in_count -= n;
    return n;
}

static int tkp_read(BIO *bio, char *buffer, size_t capacity, size_t *read) {
    BIO_clear_retry_flags(bio);
    tkp_pipe *pipe = BIO_get_data(bio);
    *read = tkp_take(&pipe->input, buffer, capacity);
    *read += tkp_take_lent(pipe, buffer + *read, capacity - *read);
    if (*read > 0) return 1;
    // Empty: "retry later" until the input ended, then end of file.
    if (!pipe->input_ended && capacity > 0) BIO_set_retry_read(bio);
    return 0;
}

static long tkp_ctrl(BIO *bio, int command, long number, void *pointer) {
    (void)number;
    (void)pointer;
    tkp_pipe *pipe = BIO_get_data(bio);
    switch (command) {
    case BIO_CTRL_FLUSH: return 1;  // writes are complete when they return
    case BIO_CTRL_PENDING: {
        size_t pending = tkp_count(&pipe->input) + pipe->lent_in_count;
        return (long)(pending > LONG_MAX ? LONG_MAX : pending);
    }
    case BIO_CTRL_WPENDING: return (long)(tkp_count(&pipe->output) > LONG_MAX ? LONG_MAX : tkp_count(&pipe->output));
    case BIO_CTRL_EOF: return pipe->input_ended && tkp_count(&pipe->input) == 0 && pipe->lent_in_count == 0;
    case BIO_CTRL_GET_CLOSE: return BIO_get_shutdown(bio);
    case BIO_CTRL_SET_CLOSE:
        BIO_set_shutdown(bio, (int)number);
        return 1;
    default: return 0;  // everything else (kTLS, datagram, push/pop) is unsupported
    }
}

static BIO_METHOD *tkp_method_instance;

static void tkp_make_method(void) {
    int type = BIO_get_new_index();
    if (type == -1) return;
    BIO_METHOD *method = BIO_meth_new(type | BIO_TYPE_SOURCE_SINK, "TLSKit pipe");
    if (method == NULL) return;
    if (!BIO_meth_set_create(method, tkp_create) || !BIO_meth_set_destroy(method, tkp_destroy)
        || !BIO_meth_set_write_ex(method, tkp_write) || !BIO_meth_set_read_ex(method, tkp_read)
        || !BIO_meth_set_ctrl(method, tkp_ctrl)) {
        BIO_meth_free(method);
        return;
    }
    tkp_method_instance = method;  // made once per process, never freed (as BIO_s_mem's)
}

BIO *CTLSKitPipe_new(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, tkp_make_method);
    return tkp_method_instance == NULL ? NULL : BIO_new(tkp_method_instance);
}

static tkp_pipe *tkp_of(BIO *bio) { return BIO_get_data(bio); }

int CTLSKitPipe_settle_input(BIO *bio) {
    tkp_pipe *pipe = tkp_of(bio);
    int ok = tkp_append(&pipe->input, pipe->lent_in, pipe->lent_in_count);
    pipe->lent_in = NULL;
    pipe->lent_in_count = 0;
    return ok;
}

int CTLSKitPipe_lend_input(BIO *bio, const void *bytes, size_t count) {
    tkp_pipe *pipe = tkp_of(bio);
    if (pipe->lent_in_count > 0 && !CTLSKitPipe_settle_input(bio)) return 0;  // an earlier loan's rest comes first
    pipe->lent_in = bytes;
    pipe->lent_in_count = count;
    return 1;
}

int CTLSKitPipe_receive(BIO *bio, const void *bytes, size_t count) {
    // During a loan, new bytes come after the lent ones: settle the loan first.
    if (tkp_of(bio)->lent_in_count > 0 && !CTLSKitPipe_settle_input(bio)) return 0;
    return tkp_append(&tkp_of(bio)->input, bytes, count);
}
void CTLSKitPipe_end_input(BIO *bio) { tkp_of(bio)->input_ended = 1; }
size_t CTLSKitPipe_pending_input(BIO *bio) { return tkp_count(&tkp_of(bio)->input) + tkp_of(bio)->lent_in_count; }
size_t CTLSKitPipe_take_input(BIO *bio, void *buffer, size_t capacity) {
    tkp_pipe *pipe = tkp_of(bio);
    size_t n = tkp_take(&pipe->input, buffer, capacity);
    return n + tkp_take_lent(pipe, (char *)buffer + n, capacity - n);
}

int CTLSKitPipe_lend_output(BIO *bio, void *buffer, size_t capacity) {
    tkp_pipe *pipe = tkp_of(bio);
    if (pipe->lent_out != NULL || buffer == NULL) return 0;
    pipe->lent_out = buffer;
    pipe->lent_out_count = 0;
    pipe->lent_out_capacity = capacity;
    return 1;
}

size_t CTLSKitPipe_settle_output(BIO *bio) {
    tkp_pipe *pipe = tkp_of(bio);
    size_t written = pipe->lent_out_count;
    pipe->lent_out = NULL;
    pipe->lent_out_count = pipe->lent_out_capacity = 0;
    return written;
}
size_t CTLSKitPipe_pending_output(BIO *bio) { return tkp_count(&tkp_of(bio)->output); }
size_t CTLSKitPipe_drain_output(BIO *bio, void *buffer, size_t capacity) { return tkp_take(&tkp_of(bio)->output, buffer, capacity); }
size_t CTLSKitPipe_storage(BIO *bio) { return tkp_of(bio)->input.capacity + tkp_of(bio)->output.capacity; }
