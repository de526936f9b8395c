// CTLSKitGnuTLSSigner: GnuTLS private keys whose signatures come from Swift (TLSSigner),
// through gnutls_privkey_import_ext4. Holds logic, unlike the 1:1 shims (signer.c).
#ifndef CTLSKIT_GNUTLS_SIGNER_H
#define CTLSKIT_GNUTLS_SIGNER_H

#include <stddef.h>
#include <stdint.h>
#include <gnutls/gnutls.h>
#include <gnutls/abstract.h>

/// Signs `digest` for the TLS scheme `scheme` with `signer` (an opaque, retained reference).
/// Writes at most `capacity` bytes to `out` and their count to `*written`. Returns 1 on
/// success; on failure 0 with a NUL-terminated message in `message`.
typedef int (*CTLSKitGnuTLSSigner_sign_fn)(void *signer, uint16_t scheme, const unsigned char *digest,
                                           size_t digest_length, unsigned char *out, size_t capacity,
                                           size_t *written, char *message, size_t message_capacity);
/// Releases the reference a key held on `signer`.
typedef void (*CTLSKitGnuTLSSigner_release_fn)(void *signer);

/// Sets the callbacks (once per process, before any key is made).
void CTLSKitGnuTLSSigner_set_callbacks(CTLSKitGnuTLSSigner_sign_fn sign, CTLSKitGnuTLSSigner_release_fn release);

/// Makes `key` (initialised, empty) sign through `signer`. `spki` is the signer's public key
/// (DER SubjectPublicKeyInfo), `schemes` the TLS schemes it offers, `name` its name for
/// errors. Takes over the reference on `signer` (released with the key, or at once when this
/// fails). Returns 0 or a GnuTLS error code; on error `message` says why.
int CTLSKitGnuTLSSigner_import(gnutls_privkey_t key, const unsigned char *spki, size_t spki_length,
                               const uint16_t *schemes, size_t scheme_count, const char *name, void *signer,
                               char *message, size_t message_capacity);

/// 1 when `certificate_key` and the DER SubjectPublicKeyInfo `spki` are the same key.
int CTLSKitGnuTLSSigner_same_key(gnutls_pubkey_t certificate_key, const unsigned char *spki, size_t spki_length);

/// The message of the last signer failure on this thread (empty when none), cleared by the call.
/// A handshake that failed with GNUTLS_E_PK_SIGN_FAILED reads it to name the signer and the cause.
const char *CTLSKitGnuTLSSigner_take_failure(void);


#endif
