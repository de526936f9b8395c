// GnuTLS keys whose signatures come from Swift (see CTLSKitGnuTLSSigner.h).
#include "CTLSKitGnuTLSSigner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TKS_MAX_SCHEMES 32
#define TKS_MAX_SIGNATURE 1100  // an RSA-8192 signature is 1024 bytes; ECDSA P-521 DER at most 141

static CTLSKitGnuTLSSigner_sign_fn tks_sign_callback;
static CTLSKitGnuTLSSigner_release_fn tks_release_callback;
static _Thread_local char tks_failure[512];

void CTLSKitGnuTLSSigner_set_callbacks(CTLSKitGnuTLSSigner_sign_fn sign, CTLSKitGnuTLSSigner_release_fn release) {
    tks_sign_callback = sign;
    tks_release_callback = release;
}

const char *CTLSKitGnuTLSSigner_take_failure(void) {
    static _Thread_local char taken[sizeof(tks_failure)];
    memcpy(taken, tks_failure, sizeof(taken));
    tks_failure[0] = '\0';
    return taken;
}

typedef struct {
    void *signer;
    gnutls_pubkey_t pub;
    gnutls_pk_algorithm_t pk;
    unsigned int bits;
    uint16_t schemes[TKS_MAX_SCHEMES];
    size_t scheme_count;
    char name[128];
} tks_gkey;

// The TLS code of a GnuTLS signature algorithm a signer can make, or 0.
static uint16_t tks_scheme(gnutls_sign_algorithm_t algo) {
    switch (algo) {
    case GNUTLS_SIGN_ECDSA_SHA256: case GNUTLS_SIGN_ECDSA_SECP256R1_SHA256: return 0x0403;
    case GNUTLS_SIGN_ECDSA_SHA384: case GNUTLS_SIGN_ECDSA_SECP384R1_SHA384: return 0x0503;
    case GNUTLS_SIGN_ECDSA_SHA512: case GNUTLS_SIGN_ECDSA_SECP521R1_SHA512: return 0x0603;
    case GNUTLS_SIGN_RSA_SHA256: return 0x0401;
    case GNUTLS_SIGN_RSA_SHA384: return 0x0501;
    case GNUTLS_SIGN_RSA_SHA512: return 0x0601;
    case GNUTLS_SIGN_RSA_PSS_RSAE_SHA256: return 0x0804;
    case GNUTLS_SIGN_RSA_PSS_RSAE_SHA384: return 0x0805;
    case GNUTLS_SIGN_RSA_PSS_RSAE_SHA512: return 0x0806;
    default: return 0;
    }
}

// The DigestInfo prefixes of SHA-256, -384 and -512 (RFC 8017, section 9.2, note 1).
static const unsigned char tks_digest_info[3][19] = {
    {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
    {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
    {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
};

static gnutls_sign_algorithm_t tks_digest_info_algorithm(const gnutls_datum_t *data) {
    static const gnutls_sign_algorithm_t algorithms[3] = {GNUTLS_SIGN_RSA_SHA256, GNUTLS_SIGN_RSA_SHA384,
                                                          GNUTLS_SIGN_RSA_SHA512};
    static const unsigned int lengths[3] = {32, 48, 64};
    for (int i = 0; i < 3; i++)
        if (data->size == 19 + lengths[i] && memcmp(data->data, tks_digest_info[i], 19) == 0) return algorithms[i];
    return GNUTLS_SIGN_UNKNOWN;
}

static size_t tks_digest_length(uint16_t scheme) {
    switch (scheme) {
    case 0x0403: case 0x0401: case 0x0804: return 32;
    case 0x0503: case 0x0501: case 0x0805: return 48;
    default: return 64;
    }
}

static int tks_listed(const tks_gkey *key, uint16_t scheme) {
    for (size_t i = 0; i < key->scheme_count; i++)
        if (key->schemes[i] == scheme) return 1;
    return 0;
}

static int tks_sign_hash(gnutls_privkey_t privkey, gnutls_sign_algorithm_t algo, void *userdata, unsigned int flags,
                         const gnutls_datum_t *hash, gnutls_datum_t *signature) {
    (void)privkey;
    tks_gkey *key = userdata;
    uint16_t scheme = tks_scheme(algo);
    // TLS 1.2's RSA PKCS#1 v1.5 arrives as "raw RSA" over a DigestInfo: its prefix names the hash.
    if (algo == GNUTLS_SIGN_RSA_RAW && !(flags & GNUTLS_PRIVKEY_SIGN_FLAG_TLS1_RSA)) {
        algo = tks_digest_info_algorithm(hash);
        scheme = tks_scheme(algo);
    }
    if (scheme == 0 || !tks_listed(key, scheme)) {
        snprintf(tks_failure, sizeof(tks_failure), "signer '%s': asked for %s, which it does not list", key->name,
                 gnutls_sign_get_name(algo) ? gnutls_sign_get_name(algo) : "an unknown algorithm");
        return GNUTLS_E_PK_SIGN_FAILED;
    }
    // RSA PKCS#1 v1.5 comes as the DigestInfo of the digest: hand the signer the digest.
    size_t length = tks_digest_length(scheme);
    if (hash->size < length) return GNUTLS_E_PK_SIGN_FAILED;
    gnutls_datum_t digest = {hash->data + (hash->size - length), (unsigned int)length};
    if (hash->size != length && !((scheme & 0xff) == 0x01 && hash->size == length + 19)) {
        snprintf(tks_failure, sizeof(tks_failure), "signer '%s': GnuTLS handed over %u bytes to sign for %s",
                 key->name, hash->size, gnutls_sign_get_name(algo));
        return GNUTLS_E_PK_SIGN_FAILED;
    }
    unsigned char out[TKS_MAX_SIGNATURE];
    size_t written = 0;
    char message[512] = {0};
    if (tks_sign_callback == NULL
        || !tks_sign_callback(key->signer, scheme, digest.data, digest.size, out, sizeof(out), &written, message,
                              sizeof(message))) {
        snprintf(tks_failure, sizeof(tks_failure), "%s", message);
        return GNUTLS_E_PK_SIGN_FAILED;
    }
    gnutls_datum_t made = {out, (unsigned int)written};
    if (written > sizeof(out) || gnutls_pubkey_verify_hash2(key->pub, algo, 0, &digest, &made) < 0) {
        snprintf(tks_failure, sizeof(tks_failure),
                 "signer '%s' returned a signature for %s that does not verify with its public key; it signs with "
                 "another key or in another format (ECDSA: DER SEQUENCE { r, s }; RSA-PSS: salt as long as the "
                 "hash). The signature was not sent",
                 key->name, gnutls_sign_get_name(algo));
        return GNUTLS_E_PK_SIGN_FAILED;
    }
    signature->data = gnutls_malloc(written);
    if (signature->data == NULL) return GNUTLS_E_MEMORY_ERROR;
    memcpy(signature->data, out, written);
    signature->size = (unsigned int)written;
    return 0;
}

static int tks_info(gnutls_privkey_t privkey, unsigned int flags, void *userdata) {
    (void)privkey;
    const tks_gkey *key = userdata;
    if (flags & GNUTLS_PRIVKEY_INFO_HAVE_SIGN_ALGO) {
        uint16_t scheme = tks_scheme(GNUTLS_FLAGS_TO_SIGN_ALGO(flags));
        return scheme != 0 && tks_listed(key, scheme);
    }
    if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO_BITS) return (int)key->bits;
    if (flags & GNUTLS_PRIVKEY_INFO_PK_ALGO) return key->pk;
    if (flags & GNUTLS_PRIVKEY_INFO_SIGN_ALGO) return 0;
    return -1;
}

static void tks_deinit(gnutls_privkey_t privkey, void *userdata) {
    (void)privkey;
    tks_gkey *key = userdata;
    if (key->signer != NULL && tks_release_callback != NULL) tks_release_callback(key->signer);
    gnutls_pubkey_deinit(key->pub);
    free(key);
}

int CTLSKitGnuTLSSigner_import(gnutls_privkey_t privkey, const unsigned char *spki, size_t spki_length,
                               const uint16_t *schemes, size_t scheme_count, const char *name, void *signer,
                               char *message, size_t message_capacity) {
    tks_gkey *key = calloc(1, sizeof(*key));
    int status = GNUTLS_E_MEMORY_ERROR;
    if (key == NULL) goto fail;
    snprintf(key->name, sizeof(key->name), "%s", name);
    if (scheme_count > TKS_MAX_SCHEMES) {
        snprintf(message, message_capacity, "signer '%s' lists more than %d schemes", name, TKS_MAX_SCHEMES);
        status = GNUTLS_E_INVALID_REQUEST;
        goto fail;
    }
    memcpy(key->schemes, schemes, scheme_count * sizeof(uint16_t));
    key->scheme_count = scheme_count;
    if ((status = gnutls_pubkey_init(&key->pub)) < 0) goto fail;
    gnutls_datum_t der = {(unsigned char *)spki, (unsigned int)spki_length};
    if ((status = gnutls_pubkey_import(key->pub, &der, GNUTLS_X509_FMT_DER)) < 0) {
        snprintf(message, message_capacity, "signer '%s': its publicKey is not a DER SubjectPublicKeyInfo (%s)", name,
                 gnutls_strerror(status));
        goto fail;
    }
    int pk = gnutls_pubkey_get_pk_algorithm(key->pub, &key->bits);
    if (pk != GNUTLS_PK_RSA && pk != GNUTLS_PK_ECDSA) {
        snprintf(message, message_capacity,
                 "signer '%s': its key type (%s) cannot be used; a signer holds an ECDSA or RSA key", name,
                 gnutls_pk_get_name(pk) ? gnutls_pk_get_name(pk) : "unknown");
        status = GNUTLS_E_UNSUPPORTED_SIGNATURE_ALGORITHM;
        goto fail;
    }
    key->pk = (gnutls_pk_algorithm_t)pk;
    key->signer = signer;
    status = gnutls_privkey_import_ext4(privkey, key, NULL, tks_sign_hash, NULL, tks_deinit, tks_info,
                                        GNUTLS_PRIVKEY_IMPORT_AUTO_RELEASE);
    if (status < 0) {
        key->signer = NULL;
        snprintf(message, message_capacity, "signer '%s': gnutls_privkey_import_ext4 failed: %s", name,
                 gnutls_strerror(status));
        goto fail;
    }
    return 0;
fail:
    if (signer != NULL && tks_release_callback != NULL) tks_release_callback(signer);
    if (key != NULL) {
        if (key->pub != NULL) gnutls_pubkey_deinit(key->pub);
        free(key);
    }
    return status < 0 ? status : GNUTLS_E_INTERNAL_ERROR;
}

int CTLSKitGnuTLSSigner_same_key(gnutls_pubkey_t certificate_key, const unsigned char *spki, size_t spki_length) {
    gnutls_pubkey_t other = NULL;
    gnutls_datum_t der = {(unsigned char *)spki, (unsigned int)spki_length}, a = {NULL, 0}, b = {NULL, 0};
    int same = gnutls_pubkey_init(&other) >= 0 && gnutls_pubkey_import(other, &der, GNUTLS_X509_FMT_DER) >= 0
        && gnutls_pubkey_export2(certificate_key, GNUTLS_X509_FMT_DER, &a) >= 0
        && gnutls_pubkey_export2(other, GNUTLS_X509_FMT_DER, &b) >= 0 && a.size == b.size
        && memcmp(a.data, b.data, a.size) == 0;
    gnutls_free(a.data);
    gnutls_free(b.data);
    if (other != NULL) gnutls_pubkey_deinit(other);
    return same;
}
