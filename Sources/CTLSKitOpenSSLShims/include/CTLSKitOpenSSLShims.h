// CTLSKitOpenSSLShims: the single list of OpenSSL things Swift cannot import.
//
// Every function here is a prefixed, 1:1, logic-free wrapper of an OpenSSL macro
// (or a constant built by a macro). Bodies live in shims.c, never in this header.
#ifndef CTLSKIT_OPENSSL_SHIMS_H
#define CTLSKIT_OPENSSL_SHIMS_H

#include <openssl/opensslv.h>
#include <openssl/ssl.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/ui.h>

#if OPENSSL_VERSION_MAJOR < 3
#error "TLSKitOpenSSL requires OpenSSL 3.0 or newer headers (found an older OpenSSL)."
#endif

// MARK: - Constants built with SSL_OP_BIT / version macros
uint64_t CTLSKitOpenSSLShims_SSL_OP_NO_COMPRESSION(void);
uint64_t CTLSKitOpenSSLShims_SSL_OP_NO_RENEGOTIATION(void);
uint64_t CTLSKitOpenSSLShims_SSL_OP_CIPHER_SERVER_PREFERENCE(void);
uint64_t CTLSKitOpenSSLShims_SSL_OP_NO_TICKET(void);
long CTLSKitOpenSSLShims_SSL_MODE_RELEASE_BUFFERS(void);
long CTLSKitOpenSSLShims_SSL_MODE_NO_AUTO_CHAIN(void);
unsigned long CTLSKitOpenSSLShims_OPENSSL_VERSION_NUMBER(void);

// MARK: - SSL_CTX ctrl macros
int CTLSKitOpenSSLShims_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version);
int CTLSKitOpenSSLShims_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version);
long CTLSKitOpenSSLShims_SSL_CTX_set_mode(SSL_CTX *ctx, long mode);
int CTLSKitOpenSSLShims_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list);
int CTLSKitOpenSSLShims_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x509);
int CTLSKitOpenSSLShims_SSL_CTX_set1_sigalgs_list(SSL_CTX *ctx, const char *list);
int CTLSKitOpenSSLShims_SSL_CTX_set1_client_sigalgs_list(SSL_CTX *ctx, const char *list);
long CTLSKitOpenSSLShims_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode);
int CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *));
int CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_servername_arg(SSL_CTX *ctx, void *arg);
// OCSP stapling (status_request): the callback runs on servers to staple, on clients to check.
int CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_status_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *));
int CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_status_arg(SSL_CTX *ctx, void *arg);
long CTLSKitOpenSSLShims_SSL_CTX_set_tlsext_status_type(SSL_CTX *ctx, int type);
int CTLSKitOpenSSLShims_TLSEXT_STATUSTYPE_ocsp(void);
long CTLSKitOpenSSLShims_SSL_get_tlsext_status_type(SSL *ssl);
long CTLSKitOpenSSLShims_SSL_set_tlsext_status_ocsp_resp(SSL *ssl, unsigned char *resp, long length);
long CTLSKitOpenSSLShims_SSL_get_tlsext_status_ocsp_resp(SSL *ssl, const unsigned char **resp);
void *CTLSKitOpenSSLShims_OPENSSL_malloc(size_t size);
long CTLSKitOpenSSLShims_SSL_SESS_CACHE_CLIENT(void);
long CTLSKitOpenSSLShims_SSL_SESS_CACHE_SERVER(void);
long CTLSKitOpenSSLShims_SSL_SESS_CACHE_NO_INTERNAL_STORE(void);

// MARK: - SSL ctrl macros
int CTLSKitOpenSSLShims_SSL_set_tlsext_host_name(SSL *ssl, const char *name);
int CTLSKitOpenSSLShims_SSL_get_negotiated_group(SSL *ssl);

// MARK: - Typed stacks
int CTLSKitOpenSSLShims_sk_X509_num(const STACK_OF(X509) *stack);
X509 *CTLSKitOpenSSLShims_sk_X509_value(const STACK_OF(X509) *stack, int index);

// MARK: - ENGINE (deprecated in 3.0; the opt-in PKCS#11 bridge through libp11). engine.c
ENGINE *CTLSKitOpenSSLShims_ENGINE_by_id(const char *id);
int CTLSKitOpenSSLShims_ENGINE_ctrl_cmd_string(ENGINE *e, const char *cmd, const char *arg, int optional);
int CTLSKitOpenSSLShims_ENGINE_init(ENGINE *e);
int CTLSKitOpenSSLShims_ENGINE_finish(ENGINE *e);
int CTLSKitOpenSSLShims_ENGINE_free(ENGINE *e);
EVP_PKEY *CTLSKitOpenSSLShims_ENGINE_load_private_key(ENGINE *e, const char *key_id, UI_METHOD *ui_method, void *callback_data);

// MARK: - libc calls Swift's Glibc module does not export
/// memfd_create(2): an anonymous in-memory file (for provider configuration, never on disk),
/// always with MFD_CLOEXEC added to `flags`.
int CTLSKitOpenSSLShims_memfd_create(const char *name, unsigned int flags);
/// MFD_CLOEXEC (Swift does not see it: glibc declares it only with _GNU_SOURCE).
extern const unsigned int CTLSKitOpenSSLShims_MFD_CLOEXEC;

// MARK: - Memory
void CTLSKitOpenSSLShims_OPENSSL_free(void *pointer);

// MARK: - Asynchronous verification
/// SSL_set_retry_verify (a macro): from the verify callback, suspend the handshake
/// (SSL_ERROR_WANT_RETRY_VERIFY) until it is called again. 1 on success.
int CTLSKitOpenSSLShims_SSL_set_retry_verify(SSL *ssl);

// The in-process signer provider (logic, unlike the wrappers above): see that header.
#include "CTLSKitOpenSSLSigner.h"
// The BIO between an SSL* and the sans-I/O connection (logic too): see that header.
#include "CTLSKitOpenSSLPipe.h"

#endif
