// CTLSKitOpenSSLSigner: an in-process OpenSSL 3 provider ("tlskit-signer") whose keys sign
// through a callback into Swift (TLSSigner). Unlike the 1:1 shims, this holds logic: the
// provider's key management and signature functions (signer.c).
//
// How it fits OpenSSL: the provider registers key management for "EC" and "RSA" and the
// "ECDSA" and "RSA" signatures, all with the property provider=tlskit-signer, so only an
// explicit fetch picks them. A key made here holds the signer and an ordinary public key
// (default provider). It never exports itself, so every signature with it runs in this
// provider: libcrypto's first choice (the default provider's signature) cannot import it,
// and the fetch falls back to the key's own provider.
#ifndef CTLSKIT_OPENSSL_SIGNER_H
#define CTLSKIT_OPENSSL_SIGNER_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

/// Signs `digest` for the TLS scheme `scheme` with the signer `signer` (an opaque, retained
/// reference). Writes at most `capacity` bytes to `out` and their count to `*written`.
/// Returns 1 on success; on failure 0, with a message (NUL-terminated, truncated to
/// `message_capacity`) in `message`.
typedef int (*CTLSKitSigner_sign_fn)(void *signer, uint16_t scheme, const unsigned char *digest, size_t digest_length,
                                     unsigned char *out, size_t capacity, size_t *written, char *message,
                                     size_t message_capacity);
/// Releases the reference a key held on `signer`.
typedef void (*CTLSKitSigner_release_fn)(void *signer);

/// Sets the callbacks (once per process, before any key is made).
void CTLSKitSigner_set_callbacks(CTLSKitSigner_sign_fn sign, CTLSKitSigner_release_fn release);

/// Adds and loads the provider in `libctx` unless it is there already. 1 on success.
int CTLSKitSigner_ensure_provider(OSSL_LIB_CTX *libctx);

/// Makes a private key whose signatures come from `signer`. `spki` is the signer's public key
/// (DER SubjectPublicKeyInfo), `schemes` the TLS schemes it offers, `name` its name for errors.
/// Takes over the reference on `signer`: it is released when the key is freed, or at once
/// when this fails. On failure returns NULL with the reason on OpenSSL's error queue.
EVP_PKEY *CTLSKitSigner_make_key(OSSL_LIB_CTX *libctx, const unsigned char *spki, size_t spki_length,
                                 const uint16_t *schemes, size_t scheme_count, const char *name, void *signer);


#endif
