// The "tlskit-signer" provider: keys whose signatures come from Swift (see
// CTLSKitOpenSSLSigner.h for how it fits OpenSSL). Written against the OpenSSL 3.0
// provider interface (provider-keymgmt(7), provider-signature(7)).
#include "CTLSKitOpenSSLSigner.h"

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define TKS_PROVIDER_NAME "tlskit-signer"
#define TKS_PROPERTY "provider=tlskit-signer"
#define TKS_NOT_US "provider!=tlskit-signer"
#define TKS_PARAM_INIT "tlskit-signer-init"
#define TKS_MAX_SCHEMES 32

static CTLSKitSigner_sign_fn tks_sign_callback;
static CTLSKitSigner_release_fn tks_release_callback;

void CTLSKitSigner_set_callbacks(CTLSKitSigner_sign_fn sign, CTLSKitSigner_release_fn release) {
    tks_sign_callback = sign;
    tks_release_callback = release;
}

// MARK: - Keys

typedef struct {
    OSSL_LIB_CTX *libctx;
} tks_provctx;

typedef struct {
    tks_provctx *prov;
    int is_rsa;
    EVP_PKEY *pub;  // the public half, on an ordinary provider
    void *signer;   // retained; NULL for a public key imported for a comparison
    uint16_t schemes[TKS_MAX_SCHEMES];
    size_t scheme_count;
    char name[128];
} tks_key;

// What CTLSKitSigner_make_key hands the import function (by pointer, inside one param).
typedef struct {
    EVP_PKEY *pub;
    void *signer;  // set to NULL once a key has taken it over
    const uint16_t *schemes;
    size_t scheme_count;
    const char *name;
} tks_init;

static void *tks_key_new(void *provctx, int is_rsa) {
    tks_key *key = calloc(1, sizeof(*key));
    if (key == NULL) return NULL;
    key->prov = provctx;
    key->is_rsa = is_rsa;
    return key;
}
static void *tks_ec_new(void *provctx) { return tks_key_new(provctx, 0); }
static void *tks_rsa_new(void *provctx) { return tks_key_new(provctx, 1); }

static void tks_key_free(void *keydata) {
    tks_key *key = keydata;
    if (key == NULL) return;
    if (key->signer != NULL && tks_release_callback != NULL) tks_release_callback(key->signer);
    EVP_PKEY_free(key->pub);
    free(key);
}

static int tks_key_has(const void *keydata, int selection) {
    const tks_key *key = keydata;
    if (key == NULL) return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && key->signer == NULL) return 0;
    if ((selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) != 0 && key->pub == NULL)
        return 0;
    return 1;
}

static int tks_key_import(void *keydata, int selection, const OSSL_PARAM params[]) {
    tks_key *key = keydata;
    if (key == NULL || key->pub != NULL) return 0;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, TKS_PARAM_INIT);
    if (p != NULL) {
        tks_init *init = NULL;
        if (p->data_type != OSSL_PARAM_OCTET_STRING || p->data_size != sizeof(init)) return 0;
        memcpy(&init, p->data, sizeof(init));
        if (init == NULL || init->pub == NULL || init->signer == NULL || init->scheme_count > TKS_MAX_SCHEMES) return 0;
        if (!EVP_PKEY_up_ref(init->pub)) return 0;
        key->pub = init->pub;
        key->signer = init->signer;
        init->signer = NULL;
        memcpy(key->schemes, init->schemes, init->scheme_count * sizeof(uint16_t));
        key->scheme_count = init->scheme_count;
        snprintf(key->name, sizeof(key->name), "%s", init->name != NULL ? init->name : "?");
        return 1;
    }
    // A public key handed over for a comparison (EVP_PKEY_eq exports the certificate's key
    // here, because keys of this provider never export themselves).
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) return 0;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(key->prov->libctx, key->is_rsa ? "RSA" : "EC", TKS_NOT_US);
    int ok = ctx != NULL && EVP_PKEY_fromdata_init(ctx) > 0
        && EVP_PKEY_fromdata(ctx, &key->pub, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) > 0;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static const OSSL_PARAM tks_ec_import_list[] = {
    OSSL_PARAM_octet_string(TKS_PARAM_INIT, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
    OSSL_PARAM_END,
};
static const OSSL_PARAM tks_rsa_import_list[] = {
    OSSL_PARAM_octet_string(TKS_PARAM_INIT, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
};
static const OSSL_PARAM *tks_ec_import_types(int selection) {
    (void)selection;
    return tks_ec_import_list;
}
static const OSSL_PARAM *tks_rsa_import_types(int selection) {
    (void)selection;
    return tks_rsa_import_list;
}

// Never exports: a signature with this key must run in this provider, not in one that
// would receive a public key only.
static int tks_key_export(void *keydata, int selection, OSSL_CALLBACK *callback, void *arg) {
    (void)keydata, (void)selection, (void)callback, (void)arg;
    return 0;
}
static const OSSL_PARAM tks_no_params[] = {OSSL_PARAM_END};
static const OSSL_PARAM *tks_key_export_types(int selection) {
    (void)selection;
    return tks_no_params;
}

static int tks_key_match(const void *a, const void *b, int selection) {
    (void)selection;
    const tks_key *x = a, *y = b;
    if (x == NULL || y == NULL || x->pub == NULL || y->pub == NULL || x->is_rsa != y->is_rsa) return 0;
    return EVP_PKEY_eq(x->pub, y->pub) == 1;
}

static int tks_key_get_params(void *keydata, OSSL_PARAM params[]) {
    tks_key *key = keydata;
    if (key == NULL || key->pub == NULL) return 0;
    return EVP_PKEY_get_params(key->pub, params);
}
static const OSSL_PARAM tks_gettable_list[] = {
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
};
static const OSSL_PARAM *tks_key_gettable_params(void *provctx) {
    (void)provctx;
    return tks_gettable_list;
}
static const char *tks_ec_operation_name(int operation_id) {
    return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}
static const char *tks_rsa_operation_name(int operation_id) {
    return operation_id == OSSL_OP_SIGNATURE ? "RSA" : NULL;
}

#define TKS_KEYMGMT_COMMON                                                                \
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))tks_key_free},                               \
        {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))tks_key_has},                             \
        {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))tks_key_import},                       \
        {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))tks_key_export},                       \
        {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))tks_key_export_types},           \
        {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))tks_key_match},                         \
        {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))tks_key_get_params},               \
        {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))tks_key_gettable_params}

static const OSSL_DISPATCH tks_ec_keymgmt[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))tks_ec_new},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))tks_ec_import_types},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))tks_ec_operation_name},
    TKS_KEYMGMT_COMMON,
    {0, NULL},
};
static const OSSL_DISPATCH tks_rsa_keymgmt[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))tks_rsa_new},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))tks_rsa_import_types},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))tks_rsa_operation_name},
    TKS_KEYMGMT_COMMON,
    {0, NULL},
};

// MARK: - Signatures

typedef struct {
    tks_provctx *prov;
    tks_key *key;
    EVP_MD *md;
    EVP_MD_CTX *mdctx;
    int pad;
    int saltlen;
    char mgf1[64];
} tks_sig;

static void *tks_sig_new(void *provctx, const char *propq) {
    (void)propq;
    tks_sig *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) return NULL;
    ctx->prov = provctx;
    ctx->pad = RSA_PKCS1_PADDING;
    ctx->saltlen = RSA_PSS_SALTLEN_DIGEST;
    return ctx;
}

static void tks_sig_free(void *vctx) {
    tks_sig *ctx = vctx;
    if (ctx == NULL) return;
    EVP_MD_free(ctx->md);
    EVP_MD_CTX_free(ctx->mdctx);
    free(ctx);
}

static void *tks_sig_dup(void *vctx) {
    const tks_sig *src = vctx;
    tks_sig *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) return NULL;
    *ctx = *src;
    ctx->md = NULL;
    ctx->mdctx = NULL;
    if (src->md != NULL) {
        if (!EVP_MD_up_ref(src->md)) goto fail;
        ctx->md = src->md;
    }
    if (src->mdctx != NULL) {
        ctx->mdctx = EVP_MD_CTX_new();
        if (ctx->mdctx == NULL || !EVP_MD_CTX_copy_ex(ctx->mdctx, src->mdctx)) goto fail;
    }
    return ctx;
fail:
    tks_sig_free(ctx);
    return NULL;
}

// 1, 2, 3 for SHA-256, -384, -512; 0 for any other digest.
static int tks_hash_index(const EVP_MD *md) {
    if (md == NULL) return 0;
    if (EVP_MD_is_a(md, "SHA2-256")) return 1;
    if (EVP_MD_is_a(md, "SHA2-384")) return 2;
    if (EVP_MD_is_a(md, "SHA2-512")) return 3;
    return 0;
}

static uint16_t tks_scheme(const tks_key *key, int hash, int pad) {
    static const uint16_t ecdsa[] = {0, 0x0403, 0x0503, 0x0603};
    static const uint16_t pss[] = {0, 0x0804, 0x0805, 0x0806};
    static const uint16_t pkcs1[] = {0, 0x0401, 0x0501, 0x0601};
    if (hash < 1 || hash > 3) return 0;
    if (!key->is_rsa) return ecdsa[hash];
    return pad == RSA_PKCS1_PSS_PADDING ? pss[hash] : pad == RSA_PKCS1_PADDING ? pkcs1[hash] : 0;
}

static int tks_listed(const tks_key *key, uint16_t scheme) {
    for (size_t i = 0; i < key->scheme_count; i++)
        if (key->schemes[i] == scheme) return 1;
    return 0;
}

// Sets the digest; refuses one for which the signer lists no scheme, so that libssl
// (EVP_PKEY_digestsign_supports_digest) never picks a signature algorithm it cannot make.
static int tks_sig_set_md(tks_sig *ctx, const char *mdname) {
    EVP_MD *md = EVP_MD_fetch(ctx->prov->libctx, mdname, NULL);
    if (md == NULL) return 0;
    int hash = tks_hash_index(md);
    int usable = ctx->key == NULL
        || (ctx->key->is_rsa
                ? tks_listed(ctx->key, tks_scheme(ctx->key, hash, RSA_PKCS1_PSS_PADDING))
                    || tks_listed(ctx->key, tks_scheme(ctx->key, hash, RSA_PKCS1_PADDING))
                : tks_listed(ctx->key, tks_scheme(ctx->key, hash, 0)));
    if (!usable || hash == 0) {
        EVP_MD_free(md);
        return 0;
    }
    EVP_MD_free(ctx->md);
    ctx->md = md;
    return 1;
}

static int tks_sig_set_params(void *vctx, const OSSL_PARAM params[]) {
    tks_sig *ctx = vctx;
    if (params == NULL) return 1;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL) {
        const char *text = NULL;
        if (p->data_type == OSSL_PARAM_INTEGER) {
            if (!OSSL_PARAM_get_int(p, &ctx->pad)) return 0;
        } else if (OSSL_PARAM_get_utf8_string_ptr(p, &text)) {
            if (strcmp(text, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0)
                ctx->pad = RSA_PKCS1_PSS_PADDING;
            else if (strcmp(text, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0)
                ctx->pad = RSA_PKCS1_PADDING;
            else
                return 0;
        } else {
            return 0;
        }
    }
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL) {
        const char *text = NULL;
        if (p->data_type == OSSL_PARAM_INTEGER) {
            if (!OSSL_PARAM_get_int(p, &ctx->saltlen)) return 0;
        } else if (OSSL_PARAM_get_utf8_string_ptr(p, &text)) {
            if (strcmp(text, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0)
                ctx->saltlen = RSA_PSS_SALTLEN_DIGEST;
            else if (strcmp(text, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) == 0)
                ctx->saltlen = RSA_PSS_SALTLEN_MAX;
            else if (strcmp(text, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) == 0)
                ctx->saltlen = RSA_PSS_SALTLEN_AUTO;
            else
                ctx->saltlen = atoi(text);
        } else {
            return 0;
        }
    }
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
    if (p != NULL) {
        const char *text = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &text)) return 0;
        snprintf(ctx->mgf1, sizeof(ctx->mgf1), "%s", text);
    }
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL) {
        const char *text = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &text) || !tks_sig_set_md(ctx, text)) return 0;
    }
    return 1;
}

static const OSSL_PARAM tks_settable_list[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_END,
};
static const OSSL_PARAM *tks_sig_settable(void *vctx, void *provctx) {
    (void)vctx, (void)provctx;
    return tks_settable_list;
}
static int tks_sig_get_params(void *vctx, OSSL_PARAM params[]) {
    (void)vctx, (void)params;
    return 1;
}
static const OSSL_PARAM *tks_sig_gettable(void *vctx, void *provctx) {
    (void)vctx, (void)provctx;
    return tks_no_params;
}

static int tks_sig_init(void *vctx, void *vkey, const OSSL_PARAM params[]) {
    tks_sig *ctx = vctx;
    tks_key *key = vkey;
    if (key == NULL || key->signer == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "tlskit-signer: the key has no signer");
        return 0;
    }
    ctx->key = key;
    return tks_sig_set_params(ctx, params);
}

static size_t tks_max_size(const tks_sig *ctx) {
    int size = ctx->key != NULL && ctx->key->pub != NULL ? EVP_PKEY_get_size(ctx->key->pub) : 0;
    return size > 0 ? (size_t)size : 0;
}

// Checks what the signer returned with the public key before it may leave: a wrong
// signature fails here, naming the signer, not at the peer as a bare decrypt_error.
static int tks_verify(const tks_sig *ctx, const unsigned char *sig, size_t siglen, const unsigned char *digest,
                      size_t digest_length) {
    ERR_set_mark();
    EVP_PKEY_CTX *v = EVP_PKEY_CTX_new_from_pkey(ctx->prov->libctx, ctx->key->pub, TKS_NOT_US);
    int ok = v != NULL && EVP_PKEY_verify_init(v) > 0 && EVP_PKEY_CTX_set_signature_md(v, ctx->md) > 0;
    if (ok && ctx->key->is_rsa) {
        ok = EVP_PKEY_CTX_set_rsa_padding(v, ctx->pad) > 0;
        if (ok && ctx->pad == RSA_PKCS1_PSS_PADDING)
            ok = EVP_PKEY_CTX_set_rsa_pss_saltlen(v, RSA_PSS_SALTLEN_DIGEST) > 0
                && EVP_PKEY_CTX_set_rsa_mgf1_md(v, ctx->md) > 0;
    }
    ok = ok && EVP_PKEY_verify(v, sig, siglen, digest, digest_length) == 1;
    EVP_PKEY_CTX_free(v);
    ERR_pop_to_mark();
    return ok;
}

static int tks_sign_digest(tks_sig *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                           const unsigned char *digest, size_t digest_length) {
    tks_key *key = ctx->key;
    if (key == NULL || key->signer == NULL || tks_sign_callback == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "tlskit-signer: no signer");
        return 0;
    }
    if (ctx->md == NULL) {
        const char *guess = digest_length == 32 ? "SHA2-256" : digest_length == 48 ? "SHA2-384" : "SHA2-512";
        if (!tks_sig_set_md(ctx, guess)) goto unsupported;
    }
    if ((size_t)EVP_MD_get_size(ctx->md) != digest_length) goto unsupported;
    uint16_t scheme = tks_scheme(key, tks_hash_index(ctx->md), ctx->pad);
    if (scheme == 0 || !tks_listed(key, scheme)) goto unsupported;
    if (key->is_rsa && ctx->pad == RSA_PKCS1_PSS_PADDING) {
        int salt_ok = ctx->saltlen == RSA_PSS_SALTLEN_DIGEST || ctx->saltlen == (int)digest_length;
        int mgf1_ok = ctx->mgf1[0] == '\0' || EVP_MD_is_a(ctx->md, ctx->mgf1);
        if (!salt_ok || !mgf1_ok) {
            ERR_raise_data(ERR_LIB_USER, ERR_R_UNSUPPORTED,
                           "signer '%s': asked for RSA-PSS with a salt of %d bytes or MGF1 with %s; a signer makes "
                           "only TLS's form (salt and MGF1 hash as the digest)",
                           key->name, ctx->saltlen, ctx->mgf1);
            return 0;
        }
    }
    char message[512] = {0};
    size_t written = 0;
    if (!tks_sign_callback(key->signer, scheme, digest, digest_length, sig, sigsize, &written, message,
                           sizeof(message))) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL, "%s", message);
        return 0;
    }
    if (written > sigsize || !tks_verify(ctx, sig, written, digest, digest_length)) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_OPERATION_FAIL,
                       "signer '%s' returned a signature for scheme 0x%04x that does not verify with its public "
                       "key; it signs with another key or in another format (ECDSA: DER SEQUENCE { r, s }; "
                       "RSA-PSS: salt as long as the hash). The signature was not sent",
                       key->name, scheme);
        return 0;
    }
    *siglen = written;
    return 1;
unsupported:
    ERR_raise_data(ERR_LIB_USER, ERR_R_UNSUPPORTED,
                   "signer '%s': asked for a signature it does not list (digest %s, %s padding)", key->name,
                   ctx->md != NULL ? EVP_MD_get0_name(ctx->md) : "?",
                   key->is_rsa ? (ctx->pad == RSA_PKCS1_PSS_PADDING ? "PSS" : "PKCS#1") : "no");
    return 0;
}

static int tks_sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize, const unsigned char *tbs,
                        size_t tbslen) {
    tks_sig *ctx = vctx;
    if (sig == NULL) {
        *siglen = tks_max_size(ctx);
        return *siglen > 0;
    }
    return tks_sign_digest(ctx, sig, siglen, sigsize, tbs, tbslen);
}

static int tks_sig_digest_init(void *vctx, const char *mdname, void *vkey, const OSSL_PARAM params[]) {
    tks_sig *ctx = vctx;
    if (!tks_sig_init(ctx, vkey, params)) return 0;
    if (mdname == NULL || mdname[0] == '\0' || !tks_sig_set_md(ctx, mdname)) return 0;
    if (ctx->mdctx == NULL && (ctx->mdctx = EVP_MD_CTX_new()) == NULL) return 0;
    return EVP_DigestInit_ex2(ctx->mdctx, ctx->md, NULL);
}

static int tks_sig_digest_update(void *vctx, const unsigned char *data, size_t length) {
    tks_sig *ctx = vctx;
    return ctx->mdctx != NULL && EVP_DigestUpdate(ctx->mdctx, data, length);
}

static int tks_sig_digest_final(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize) {
    tks_sig *ctx = vctx;
    if (sig == NULL) {
        *siglen = tks_max_size(ctx);
        return *siglen > 0;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (ctx->mdctx == NULL || !EVP_DigestFinal_ex(ctx->mdctx, digest, &length)) return 0;
    return tks_sign_digest(ctx, sig, siglen, sigsize, digest, length);
}

static int tks_sig_digest_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                               const unsigned char *tbs, size_t tbslen) {
    tks_sig *ctx = vctx;
    if (sig == NULL) {
        *siglen = tks_max_size(ctx);
        return *siglen > 0;
    }
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (ctx->md == NULL || !EVP_Digest(tbs, tbslen, digest, &length, ctx->md, NULL)) return 0;
    return tks_sign_digest(ctx, sig, siglen, sigsize, digest, length);
}

static const OSSL_DISPATCH tks_signature[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))tks_sig_new},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))tks_sig_free},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))tks_sig_dup},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))tks_sig_init},
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))tks_sig_sign},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))tks_sig_digest_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))tks_sig_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))tks_sig_digest_final},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))tks_sig_digest_sign},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))tks_sig_set_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))tks_sig_settable},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))tks_sig_get_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))tks_sig_gettable},
    {0, NULL},
};

// MARK: - The provider

static const OSSL_ALGORITHM tks_keymgmt_algorithms[] = {
    {"EC:id-ecPublicKey:1.2.840.10045.2.1", TKS_PROPERTY, tks_ec_keymgmt, "TLSKit signer (EC)"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", TKS_PROPERTY, tks_rsa_keymgmt, "TLSKit signer (RSA)"},
    {NULL, NULL, NULL, NULL},
};
static const OSSL_ALGORITHM tks_signature_algorithms[] = {
    {"ECDSA", TKS_PROPERTY, tks_signature, "TLSKit signer (ECDSA)"},
    {"RSA:rsaEncryption:1.2.840.113549.1.1.1", TKS_PROPERTY, tks_signature, "TLSKit signer (RSA)"},
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM *tks_query(void *provctx, int operation_id, int *no_cache) {
    (void)provctx;
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_KEYMGMT: return tks_keymgmt_algorithms;
    case OSSL_OP_SIGNATURE: return tks_signature_algorithms;
    default: return NULL;
    }
}

static void tks_teardown(void *provctx) { free(provctx); }

static const OSSL_DISPATCH tks_provider_dispatch[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))tks_teardown},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))tks_query},
    {0, NULL},
};

static int tks_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in, const OSSL_DISPATCH **out,
                             void **provctx) {
    OSSL_FUNC_core_get_libctx_fn *get_libctx = NULL;
    for (; in->function_id != 0; in++)
        if (in->function_id == OSSL_FUNC_CORE_GET_LIBCTX) get_libctx = OSSL_FUNC_core_get_libctx(in);
    if (get_libctx == NULL) return 0;
    tks_provctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) return 0;
    // In-process, the core's library context is the OSSL_LIB_CTX itself.
    ctx->libctx = (OSSL_LIB_CTX *)get_libctx(handle);
    *provctx = ctx;
    *out = tks_provider_dispatch;
    return 1;
}

static pthread_mutex_t tks_provider_lock = PTHREAD_MUTEX_INITIALIZER;

int CTLSKitSigner_ensure_provider(OSSL_LIB_CTX *libctx) {
    pthread_mutex_lock(&tks_provider_lock);
    int ok = OSSL_PROVIDER_available(libctx, TKS_PROVIDER_NAME);
    if (!ok)
        ok = OSSL_PROVIDER_add_builtin(libctx, TKS_PROVIDER_NAME, tks_provider_init)
            && OSSL_PROVIDER_load(libctx, TKS_PROVIDER_NAME) != NULL;
    pthread_mutex_unlock(&tks_provider_lock);
    return ok;
}

EVP_PKEY *CTLSKitSigner_make_key(OSSL_LIB_CTX *libctx, const unsigned char *spki, size_t spki_length,
                                 const uint16_t *schemes, size_t scheme_count, const char *name, void *signer) {
    EVP_PKEY *result = NULL, *pub = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    const unsigned char *cursor = spki;
    if (scheme_count > TKS_MAX_SCHEMES) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT, "signer '%s' lists more than %d schemes", name,
                       TKS_MAX_SCHEMES);
        goto done;
    }
    pub = d2i_PUBKEY_ex(NULL, &cursor, (long)spki_length, libctx, TKS_NOT_US);
    if (pub == NULL || cursor != spki + spki_length) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_PASSED_INVALID_ARGUMENT,
                       "signer '%s': its publicKey is not one DER SubjectPublicKeyInfo", name);
        goto done;
    }
    const char *type = EVP_PKEY_is_a(pub, "EC") ? "EC" : EVP_PKEY_is_a(pub, "RSA") ? "RSA" : NULL;
    if (type == NULL) {
        ERR_raise_data(ERR_LIB_USER, ERR_R_UNSUPPORTED,
                       "signer '%s': its key type (%s) cannot be used; a signer holds an ECDSA or RSA key", name,
                       EVP_PKEY_get0_type_name(pub));
        goto done;
    }
    ctx = EVP_PKEY_CTX_new_from_name(libctx, type, TKS_PROPERTY);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0) goto done;
    tks_init init = {pub, signer, schemes, scheme_count, name};
    tks_init *pointer = &init;
    OSSL_PARAM params[] = {
        OSSL_PARAM_octet_string(TKS_PARAM_INIT, &pointer, sizeof(pointer)),
        OSSL_PARAM_END,
    };
    if (EVP_PKEY_fromdata(ctx, &result, EVP_PKEY_KEYPAIR, params) <= 0) result = NULL;
    signer = init.signer;
done:
    if (signer != NULL && tks_release_callback != NULL) tks_release_callback(signer);
    EVP_PKEY_free(pub);
    EVP_PKEY_CTX_free(ctx);
    return result;
}
