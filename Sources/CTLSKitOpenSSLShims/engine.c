// The libp11 ENGINE bridge for PKCS#11 on OpenSSL 3.0 (deprecated API, opt-in only).
// Deprecation warnings are suppressed here, in C, so Swift never sees the deprecated names.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "CTLSKitOpenSSLShims.h"
#include <openssl/engine.h>

ENGINE *CTLSKitOpenSSLShims_ENGINE_by_id(const char *id) { return ENGINE_by_id(id); }
int CTLSKitOpenSSLShims_ENGINE_ctrl_cmd_string(ENGINE *e, const char *cmd, const char *arg, int optional) {
    return ENGINE_ctrl_cmd_string(e, cmd, arg, optional);
}
int CTLSKitOpenSSLShims_ENGINE_init(ENGINE *e) { return ENGINE_init(e); }
int CTLSKitOpenSSLShims_ENGINE_finish(ENGINE *e) { return ENGINE_finish(e); }
int CTLSKitOpenSSLShims_ENGINE_free(ENGINE *e) { return ENGINE_free(e); }
EVP_PKEY *CTLSKitOpenSSLShims_ENGINE_load_private_key(ENGINE *e, const char *key_id, UI_METHOD *ui_method, void *callback_data) {
    return ENGINE_load_private_key(e, key_id, ui_method, callback_data);
}
