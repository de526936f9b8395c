// Only the GnuTLS headers TLSKitGnuTLS uses; no code lives here.
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <gnutls/ocsp.h>
#include <gnutls/abstract.h>
#include <gnutls/pkcs11.h>
