// CTLSKitGnuTLSShims: the GnuTLS things Swift cannot import (ambiguous enum/macro names,
// string macros, the gnutls_free function pointer). Prefixed 1:1 wrappers, no logic.
#ifndef CTLSKIT_GNUTLS_SHIMS_H
#define CTLSKIT_GNUTLS_SHIMS_H

#include <gnutls/gnutls.h>

#if GNUTLS_VERSION_NUMBER < 0x030600
#error "TLSKitGnuTLS requires GnuTLS 3.6 or newer headers."
#endif

// MARK: - gnutls_init flags (GNUTLS_CLIENT etc. are both enum constants and macros)
unsigned int CTLSKitGnuTLSShims_GNUTLS_CLIENT(void);
unsigned int CTLSKitGnuTLSShims_GNUTLS_SERVER(void);
unsigned int CTLSKitGnuTLSShims_GNUTLS_NONBLOCK(void);
unsigned int CTLSKitGnuTLSShims_GNUTLS_NO_SIGNAL(void);

// MARK: - String macros
const char *CTLSKitGnuTLSShims_GNUTLS_KP_TLS_WWW_SERVER(void);
const char *CTLSKitGnuTLSShims_GNUTLS_KP_TLS_WWW_CLIENT(void);

// MARK: - Memory
void CTLSKitGnuTLSShims_gnutls_free(void *pointer);

// Keys that sign through Swift (logic, unlike the wrappers above): see that header.
#include "CTLSKitGnuTLSSigner.h"

#endif
