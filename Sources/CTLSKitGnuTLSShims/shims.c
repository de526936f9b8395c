#include "CTLSKitGnuTLSShims.h"
#include <gnutls/x509.h>

unsigned int CTLSKitGnuTLSShims_GNUTLS_CLIENT(void) { return GNUTLS_CLIENT; }
unsigned int CTLSKitGnuTLSShims_GNUTLS_SERVER(void) { return GNUTLS_SERVER; }
unsigned int CTLSKitGnuTLSShims_GNUTLS_NONBLOCK(void) { return GNUTLS_NONBLOCK; }
unsigned int CTLSKitGnuTLSShims_GNUTLS_NO_SIGNAL(void) { return GNUTLS_NO_SIGNAL; }

const char *CTLSKitGnuTLSShims_GNUTLS_KP_TLS_WWW_SERVER(void) { return GNUTLS_KP_TLS_WWW_SERVER; }
const char *CTLSKitGnuTLSShims_GNUTLS_KP_TLS_WWW_CLIENT(void) { return GNUTLS_KP_TLS_WWW_CLIENT; }

void CTLSKitGnuTLSShims_gnutls_free(void *pointer) { gnutls_free(pointer); }
