#!/usr/bin/env bash
# End-to-end checks of the `tlskit` tool against real peers on 127.0.0.1:
# openssl s_client/s_server and curl, TLS 1.2 and 1.3, ECDSA and RSA certificates,
# plus the tool's exit codes and error lines. Prints "N passed, M failed".
#
# Usage: IntegrationTests/cli.sh PATH/TO/tlskit
# TLSKIT_CLI_PARTS="reload.sh ..." runs only those parts of IntegrationTests/cli/ (while working on one).
set -u
TLSKIT=${1:?usage: cli.sh PATH/TO/tlskit}
python3 -c 'import aiosmtpd' 2>/dev/null || { echo "missing Python module aiosmtpd (pip install aiosmtpd; scripts/test does)"; echo "0 passed, 1 failed"; exit 1; }
for tool in openssl curl python3 gnutls-cli gnutls-serv certtool softhsm2-util pkcs11-tool unshare ip swtpm tpm2_createprimary tpm2-abrmd dbus-daemon; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool (install it; .ci/run does)"; echo "0 passed, 1 failed"; exit 1; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; "$(dirname "$0")/../scripts/hwkeys" stop "$WORK/hw" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
passed=0; failed=0
ok()   { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "not ok - $1"; shift; for line in "$@"; do echo "    $line"; done; failed=$((failed + 1)); }

# --- A private PKI made with the openssl CLI --------------------------------------------
pki() { # $1 name, $2.. genpkey args
    local n=$1; shift
    openssl genpkey "$@" -out "$WORK/$n-ca.key" 2>/dev/null
    openssl req -x509 -new -key "$WORK/$n-ca.key" -sha256 -days 30 -subj "/CN=cli $n CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out "$WORK/$n-ca.pem"
    openssl genpkey "$@" -out "$WORK/$n.key" 2>/dev/null
    openssl req -new -key "$WORK/$n.key" -subj "/CN=localhost" -out "$WORK/$n.csr"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$WORK/$n.ext"
    openssl x509 -req -in "$WORK/$n.csr" -CA "$WORK/$n-ca.pem" -CAkey "$WORK/$n-ca.key" -CAcreateserial \
        -days 30 -sha256 -extfile "$WORK/$n.ext" -out "$WORK/$n.pem" 2>/dev/null
}
pki ecdsa -algorithm EC -pkeyopt ec_paramgen_curve:P-256
pki rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048
pki other -algorithm EC -pkeyopt ec_paramgen_curve:P-256   # a CA nobody trusts
# A device with a self-signed certificate (for pinning), and two client certificates
# from the ECDSA CA with fleet names (for --allow-client).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/device.key" -out "$WORK/device.pem" \
    -days 30 -subj "/CN=charger-17" -addext "subjectAltName=DNS:charger-17.local" 2>/dev/null
DEVICE_PIN="sha256:$(openssl x509 -in "$WORK/device.pem" -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64)"
for c in a.fleet.example b.other.example; do
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/$c.key" 2>/dev/null
    openssl req -new -key "$WORK/$c.key" -subj "/CN=$c" -out "$WORK/$c.csr"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:%s\n' "$c" > "$WORK/$c.ext"
    openssl x509 -req -in "$WORK/$c.csr" -CA "$WORK/ecdsa-ca.pem" -CAkey "$WORK/ecdsa-ca.key" -CAcreateserial \
        -days 30 -sha256 -extfile "$WORK/$c.ext" -out "$WORK/$c.pem" 2>/dev/null
done

# Starts `tlskit serve ...`; sets PORT.
start_serve() {
    : > "$WORK/serve.out"  # empty it now, so the previous server's port is never read
    "$TLSKIT" serve --listen 127.0.0.1:0 "$@" > "$WORK/serve.out" 2> "$WORK/serve.err" &
    PIDS+=($!); SERVE_PID=$!
    PORT=""
    for _ in $(seq 1 200); do
        PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/serve.out")
        [ -n "$PORT" ] && return 0
        kill -0 "$SERVE_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "tlskit serve did not start: $(cat "$WORK/serve.err")"; return 1
}
stop_serve() { kill "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID" 2>/dev/null; }

# Starts `openssl s_server ...`; sets SPORT.
start_s_server() {
    : > "$WORK/s_server.out"  # empty it now, so the previous server's port is never read
    openssl s_server -accept 127.0.0.1:0 -naccept 1 -www "$@" < /dev/null > "$WORK/s_server.out" 2>&1 &
    PIDS+=($!); S_PID=$!
    SPORT=""
    for _ in $(seq 1 200); do
        SPORT=$(sed -n 's/^ACCEPT 127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/s_server.out")
        [ -n "$SPORT" ] && return 0
        sleep 0.05
    done
    return 1
}
stop_s_server() { kill -9 "$S_PID" 2>/dev/null; wait "$S_PID" 2>/dev/null; }

# The backends compiled into this tlskit (gnutls with --traits GnuTLS).
BACKENDS=$("$TLSKIT" backends | sed -n 's/^\([a-z0-9]*\): .*/\1/p' | xargs)
echo "# backends: $BACKENDS"
[ -n "${TLSKIT_EXPECT_BACKENDS:-}" ] && [ "$BACKENDS" != "$TLSKIT_EXPECT_BACKENDS" ] && \
    fail "backends compiled in" "expected '$TLSKIT_EXPECT_BACKENDS', got '$BACKENDS'"


# The checks, by subject (each part is sourced into this shell).
for part in ${TLSKIT_CLI_PARTS:-serve-and-connect.sh concurrency-and-starttls.sh hardware-keys.sh tool-safety.sh limits.sh reload.sh ocsp.sh}; do
    # shellcheck source=/dev/null
    source "$(dirname "$0")/cli/$part"
done

echo
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
