// CTLSKitOpenSSLPipe: the one BIO between an SSL* and TLSKit's sans-I/O connection.
// Unlike the 1:1 shims, this holds logic (pipe.c).
//
// A pipe is a custom BIO with two byte queues: the input queue holds network bytes the
// connection received and the SSL* has not read yet; the output queue holds records the
// SSL* wrote and the application has not drained yet. The same BIO is the SSL*'s read and
// write BIO (SSL_set_bio(ssl, pipe, pipe) takes one reference).
//
// Why not two BIO_s_mem: a memory BIO keeps its largest buffer for life, so an idle
// connection held its handshake flights (about 1.4 KB a server connection, measured with
// heaptrack) in two BIOs. A pipe's queue frees its storage whenever it is empty: an idle
// connection holds one BIO and no buffers.
#ifndef CTLSKIT_OPENSSL_PIPE_H
#define CTLSKIT_OPENSSL_PIPE_H

#include <openssl/bio.h>
#include <stddef.h>

/// A new pipe BIO (one reference), or NULL when out of memory.
BIO *CTLSKitPipe_new(void);
/// Appends network bytes to the input queue. 1 on success, 0 when out of memory (the queue
/// is unchanged then).
int CTLSKitPipe_receive(BIO *pipe, const void *bytes, size_t count);
/// From now on an empty input queue reads as end of file, not as "retry later".
void CTLSKitPipe_end_input(BIO *pipe);
/// Bytes waiting in the input queue and the loan (received, not read by the SSL*).
size_t CTLSKitPipe_pending_input(BIO *pipe);
/// Moves up to `capacity` bytes from the front of the input (queue, then loan); returns how many.
size_t CTLSKitPipe_take_input(BIO *pipe, void *buffer, size_t capacity);

// Loans: the caller's buffers stand in for the queues, saving a copy each way. The caller
// keeps the memory valid and unchanged until it settles the loan.
//
/// Lends `count` received bytes: the SSL* reads them after the queued input, straight from
/// `bytes`. Receiving or taking input meanwhile settles the loan first; so does a new loan.
/// 1 on success, 0 when out of memory settling an earlier loan (fail the connection).
int CTLSKitPipe_lend_input(BIO *pipe, const void *bytes, size_t count);
/// Ends an input loan: the bytes the SSL* did not read are copied into the input queue.
/// 1 on success, 0 when out of memory (those bytes are lost: fail the connection).
int CTLSKitPipe_settle_input(BIO *pipe);
/// Lends `capacity` bytes of space for output: while the output queue is empty, records the
/// SSL* writes land there; what does not fit is queued after them. Do not drain meanwhile.
/// 1 when lent; 0 (nothing lent) during another output loan or for a NULL buffer.
int CTLSKitPipe_lend_output(BIO *pipe, void *buffer, size_t capacity);
/// Ends an output loan; returns how many bytes were written into the lent space (they come
/// before anything queued).
size_t CTLSKitPipe_settle_output(BIO *pipe);
/// Bytes waiting in the output queue (written by the SSL*, not drained).
size_t CTLSKitPipe_pending_output(BIO *pipe);
/// Moves up to `capacity` bytes from the front of the output queue; returns how many.
size_t CTLSKitPipe_drain_output(BIO *pipe, void *buffer, size_t capacity);
/// The storage both queues hold, in bytes (their capacity): 0 when both are empty.
size_t CTLSKitPipe_storage(BIO *pipe);

#endif
