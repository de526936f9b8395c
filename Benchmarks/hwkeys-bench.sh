#!/usr/bin/env bash
# Handshakes per second with the server key in a software TPM (swtpm behind tpm2-abrmd), on
# a SoftHSM2 token, and in a file, measured the same way: TLSKitBench's in-memory TLS 1.3
# handshake (both ends in one process, the key's signatures in the TPM/token), wall clock,
# median of 3 runs. Prints a Markdown table.
#
# Usage: Benchmarks/hwkeys-bench.sh [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")"
ITERS=${1:-200}
WORK=$(mktemp -d)
trap '../scripts/hwkeys stop "$WORK/hw"; rm -rf "$WORK"' EXIT
swift build -c release > /dev/null
BIN=.build/release/TLSKitBench
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/ca.key" 2>/dev/null
openssl req -x509 -new -key "$WORK/ca.key" -subj "/CN=bench hw CA" -days 2 -addext basicConstraints=critical,CA:TRUE \
    -addext keyUsage=critical,keyCertSign -out "$WORK/ca.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$WORK/soft.key" 2>/dev/null
openssl req -new -key "$WORK/soft.key" -subj /CN=localhost -out "$WORK/soft.csr"
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$WORK/ext"
openssl x509 -req -in "$WORK/soft.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 -extfile "$WORK/ext" -out "$WORK/soft.pem" 2>/dev/null
../scripts/hwkeys start "$WORK/hw" "$WORK/ca.pem" "$WORK/ca.key"
source "$WORK/hw/hwkeys.env"

run() { # label, args...
    local label=$1; shift
    local rates=()
    for _ in 1 2 3; do
        rates+=("$("$BIN" handshake --iters "$ITERS" --warmup 5 --ca "$WORK/ca.pem" "$@" 2>/dev/null | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["hs_per_s"]))')")
    done
    local median=$(printf '%s\n' "${rates[@]}" | sort -n | sed -n 2p)
    echo "| $label | $median | ${rates[*]} |"
}
echo "| server key (ECDSA P-256, TLS 1.3, in-memory handshake) | handshakes/s (median) | runs |"
echo "|---|---|---|"
run "file, OpenSSL backend" --server-cert "$WORK/soft.pem" --server-key "$WORK/soft.key"
run "file, GnuTLS backend" --backend gnutls --server-cert "$WORK/soft.pem" --server-key "$WORK/soft.key"
run "TPM handle (swtpm via tpm2-abrmd), OpenSSL + tpm2 provider" --server-cert "$TPM_EC_CERT" --server-key handle:0x81000001 \
    --providers default,tpm2 --propquery '?tpm2.signature' --tcti "$TPM_TCTI"
run "PKCS#11 token (SoftHSM2), OpenSSL + libp11 ENGINE" --server-cert "$TOKEN_CERT" --server-key "$TOKEN_KEY?pin-value=1234" \
    --engine pkcs11 --pkcs11-module "$PKCS11_MODULE"
run "PKCS#11 token (SoftHSM2), GnuTLS + p11-kit" --backend gnutls --server-cert "$TOKEN_CERT" --server-key "$TOKEN_KEY?pin-value=1234"
