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
/// Bytes waiting in the input queue (received, not read by the SSL*).
size_t CTLSKitPipe_pending_input(BIO *pipe);
/// Moves up to `capacity` bytes from the front of the input queue; returns how many.
size_t CTLSKitPipe_take_input(BIO *pipe, void *buffer, size_t capacity);
/// Bytes waiting in the output queue (written by the SSL*, not drained).
size_t CTLSKitPipe_pending_output(BIO *pipe);
/// Moves up to `capacity` bytes from the front of the output queue; returns how many.
size_t CTLSKitPipe_drain_output(BIO *pipe, void *buffer, size_t capacity);
/// The storage both queues hold, in bytes (their capacity): 0 when both are empty.
size_t CTLSKitPipe_storage(BIO *pipe);

#endif
