#define _GNU_SOURCE 1
#include <sys/mman.h>
#include "CTLSKitOpenSSLShims.h"

uint64_t CTLSKitOpenSSLShims_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
uint64_t CTLSKitOpenSSLShims_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
uint64_t CTLSKitOpenSSLShims_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
uint64_t CTLSKitOpenSSLShims_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
long CTLSKitOpenSSLShims_SSL_MODE_RELEASE_BUFFERS(void) { return SSL_MODE_RELEASE_BUFFERS; }
long CTLSKitOpenSSLShims_SSL_MODE_NO_AUTO_CHAIN(void) { return SSL_MODE_NO_AUTO_CHAIN; }
unsigned long CTLSKitOpenSSLShims_OPENSSL_VERSION_NUMBER(void) { return OPENSSL_VERSION_NUMBER; }

int CTLSKitOpenSSLShims_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_min_proto_version(ctx, version);
}
int CTLSKitOpenSSLShims_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) {
    return (int)SSL_CTX_set_max_proto_version(ctx, version);
}
long CTLSKitOpenSSLShims_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
int CTLSKitOpenSSLShims_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_groups_list(ctx, list);
}
int CTLSKitOpenSSLShims_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x509) {
    return (int)SSL_CTX_add1_chain_cert(ctx, x509);
}
int CTLSKitOpenSSLShims_SSL_CTX_set1_sigalgs_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_sigalgs_list(ctx, list);
}
int CTLSKitOpenSSLShims_SSL_CTX_set1_client_sigalgs_list(SSL_CTX *ctx, const char *list) {
    return (int)SSL_CTX_set1_client_sigalgs_list(ctx, list);
}
long CTLSKitOpenSSLShims_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
int CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_status_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *)) {
    return (int)SSL_CTX_set_tlsext_status_cb(ctx, cb);
}
int CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_status_arg(SSL_CTX *ctx, void *arg) {
    return (int)SSL_CTX_set_tlsext_status_arg(ctx, arg);
}
long CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_status_type(SSL_CTX *ctx, int type) {
    return SSL_CTX_set_tlsext_status_type(ctx, type);
}
int CTLSKitOpenSSLShims_TLSEXT_STATUSTYPE_ocsp(void) { return TLSEXT_STATUSTYPE_ocsp; }
long CTLSKitOpenSSLShims_SSL_get_tlsext_status_type(SSL *ssl) { return SSL_get_tlsext_status_type(ssl); }
long CTLSKitOpenSSLShims_SSL_set_tlsext_status_ocsp_resp(SSL *ssl, unsigned char *resp, long length) {
    return SSL_set_tlsext_status_ocsp_resp(ssl, resp, length);
}
long CTLSKitOpenSSLShims_SSL_get_tlsext_status_ocsp_resp(SSL *ssl, const unsigned char **resp) {
    return SSL_get_tlsext_status_ocsp_resp(ssl, resp);
}
void *CTLSKitOpenSSLShims_OPENSSL_malloc(size_t size) { return OPENSSL_malloc(size); }
int CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *)) {
    return (int)SSL_CTX_set_tlsext_servername_callback(ctx, cb);
}
int CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg) {
    return (int)SSL_CTX_set_tlsext_servername_arg(ctx, arg);
}
long CTLSKitOpenSSLShims_SSL_SESS_CACHE_CLIENT(void) { return SSL_SESS_CACHE_CLIENT; }
long CTLSKitOpenSSLShims_SSL_SESS_CACHE_SERVER(void) { return SSL_SESS_CACHE_SERVER; }
long CTLSKitOpenSSLShims_SSL_SESS_CACHE_NO_INTERNAL_STORE(void) { return SSL_SESS_CACHE_NO_INTERNAL_STORE; }

int CTLSKitOpenSSLShims_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
int CTLSKitOpenSSLShims_SSL_get_negotiated_group(SSL *ssl) { return (int)SSL_get_negotiated_group(ssl); }


int CTLSKitOpenSSLShims_sk_X509_num(const STACK_OF(X509) *stack) { return sk_X509_num(stack); }
X509 *CTLSKitOpenSSLShims_sk_X509_value(const STACK_OF(X509) *stack, int index) { return sk_X509_value(stack, index); }

void CTLSKitOpenSSLShims_OPENSSL_free(void *pointer) { OPENSSL_free(pointer); }

/* Always close-on-exec: a child started by another thread must never inherit the
 * configuration (it may hold provider settings such as a PIN source). */
const unsigned int CTLSKitOpenSSLShims_MFD_CLOEXEC = MFD_CLOEXEC;
int CTLSKitOpenSSLShims_memfd_create(const char *name, unsigned int flags) { return memfd_create(name, flags | MFD_CLOEXEC); }

/* SSL_set_retry_verify is a macro over SSL_ctrl in OpenSSL 3.0. */
int CTLSKitOpenSSLShims_SSL_set_retry_verify(SSL *ssl) { return SSL_set_retry_verify(ssl) ? 1 : 0; }
