#!/usr/bin/env bash
# End-to-end checks of the `tlskit` tool against real peers on 127.0.0.1:
# openssl s_client/s_server and curl, TLS 1.2 and 1.3, ECDSA and RSA certificates,
# plus the tool's exit codes and error lines. Prints "N passed, M failed".
#
# Usage: IntegrationTests/cli.sh PATH/TO/tlskit
set -u
TLSKIT=${1:?usage: cli.sh PATH/TO/tlskit}
for tool in openssl curl python3; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool (install it; .ci/run does)"; echo "0 passed, 1 failed"; exit 1; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$WORK"; }
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

# Starts `tlskit serve ...`; sets PORT.
start_serve() {
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

# --- tlskit serve: s_client and curl, both versions, both key types ----------------------
for kind in ecdsa rsa; do
    start_serve --cert "$WORK/$kind.pem" --key "$WORK/$kind.key" --mode http --alpn http/1.1 || { fail "serve $kind starts"; continue; }
    for v in 1.2 1.3; do
        flag="-tls1_${v#1.}"
        out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:$PORT -servername localhost \
            -verify_hostname localhost -CAfile "$WORK/$kind-ca.pem" -verify_return_error $flag -ign_eof 2>&1)
        if echo "$out" | grep -q "Protocol: TLSv$v" && echo "$out" | grep -q "Verify return code: 0 (ok)"; then
            ok "s_client TLS $v ($kind) -> tlskit serve"
        else
            fail "s_client TLS $v ($kind) -> tlskit serve" "$(echo "$out" | tail -5)"
        fi
        body=$(timeout 10 curl -sS --cacert "$WORK/$kind-ca.pem" --resolve localhost:$PORT:127.0.0.1 \
            --tlsv$v --tls-max $v https://localhost:$PORT/ 2>&1)
        if echo "$body" | grep -q "Protocol: TLSv$v" && echo "$body" | grep -q "ALPN: http/1.1"; then
            ok "curl TLS $v ($kind) -> tlskit serve"
        else
            fail "curl TLS $v ($kind) -> tlskit serve" "$body"
        fi
    done
    stop_serve
done

# --- tlskit connect against s_server ---------------------------------------------------
for kind in ecdsa rsa; do
    for v in 1.2 1.3; do
        start_s_server -cert "$WORK/$kind.pem" -key "$WORK/$kind.key" -tls1_${v#1.}
        json=$(timeout 15 "$TLSKIT" connect 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/$kind-ca.pem" --json 2>"$WORK/connect.err")
        status=$?
        version=$(echo "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["version"], d["verified"], len(d["peerChain"]))' 2>/dev/null)
        if [ $status -eq 0 ] && [ "$version" = "TLSv$v True 1" ]; then
            ok "tlskit connect TLS $v ($kind) -> s_server"
        else
            fail "tlskit connect TLS $v ($kind) -> s_server" "exit $status: $json $(cat "$WORK/connect.err")"
        fi
        stop_s_server
    done
done

# --- refusals: exit 2 and one line naming the cause -------------------------------------
start_s_server -cert "$WORK/other.pem" -key "$WORK/other.key"
timeout 15 "$TLSKIT" connect 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 2 ] && [ "$(wc -l < "$WORK/err")" -eq 1 ] && grep -q "certificateVerification" "$WORK/err" && grep -q "trust" "$WORK/err"; then
    ok "untrusted server: exit 2, one line naming the cause"
else
    fail "untrusted server: exit 2, one line naming the cause" "exit $status: $(cat "$WORK/err")"
fi
stop_s_server

start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key"
timeout 15 "$TLSKIT" connect 127.0.0.1:$SPORT --server-name wrong.example --ca "$WORK/ecdsa-ca.pem" > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 2 ] && grep -q "hostname mismatch" "$WORK/err" && grep -q "wrong.example" "$WORK/err"; then
    ok "wrong server name: exit 2, names the mismatch"
else
    fail "wrong server name: exit 2, names the mismatch" "exit $status: $(cat "$WORK/err")"
fi
stop_s_server

start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key" -tls1_3
timeout 15 "$TLSKIT" connect 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --max-version 1.2 > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 2 ] && grep -qi "version" "$WORK/err"; then
    ok "version mismatch: exit 2, names the version"
else
    fail "version mismatch: exit 2, names the version" "exit $status: $(cat "$WORK/err")"
fi
stop_s_server

timeout 15 "$TLSKIT" connect 127.0.0.1:1 --ca "$WORK/nonexistent.pem" > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 1 ] && grep -q "nonexistent.pem does not exist" "$WORK/err"; then
    ok "missing CA file: exit 1, names the file"
else
    fail "missing CA file: exit 1, names the file" "exit $status: $(cat "$WORK/err")"
fi

timeout 15 "$TLSKIT" connect 127.0.0.1:1 --min-version 1.1 > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 1 ]; then ok "TLS 1.1 floor refused: exit 1"; else fail "TLS 1.1 floor refused: exit 1" "exit $status"; fi

timeout 15 "$TLSKIT" serve --listen 127.0.0.1:0 --cert "$WORK/ecdsa.pem" --key "$WORK/rsa.key" > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 1 ] && grep -q "does not match" "$WORK/err"; then
    ok "serve with a key that does not match: exit 1"
else
    fail "serve with a key that does not match: exit 1" "exit $status: $(cat "$WORK/err")"
fi

printf 'not a pem\n' > "$WORK/garbage.pem"
timeout 15 "$TLSKIT" serve --listen 127.0.0.1:0 --cert "$WORK/garbage.pem" --key "$WORK/ecdsa.key" > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 1 ] && grep -q "garbage.pem" "$WORK/err"; then
    ok "serve with a garbage certificate: exit 1, names the file"
else
    fail "serve with a garbage certificate: exit 1, names the file" "exit $status: $(cat "$WORK/err")"
fi

# --- mutual TLS and echo, tlskit on both sides -------------------------------------------
start_serve --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --client-ca "$WORK/ecdsa-ca.pem" || fail "mTLS serve starts"
out=$(timeout 15 "$TLSKIT" connect 127.0.0.1:$PORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" \
    --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --send 'hello echo\n' 2>&1)
if echo "$out" | grep -q "hello echo"; then ok "tlskit connect --send with a client certificate -> tlskit serve (echo)"; else fail "mTLS echo" "$out"; fi
out=$(printf 'x\n' | timeout 10 openssl s_client -connect 127.0.0.1:$PORT -servername localhost -CAfile "$WORK/ecdsa-ca.pem" -tls1_2 2>&1)
sleep 0.2
if grep -q "sent no certificate" "$WORK/serve.err"; then
    ok "tlskit serve --client-ca refuses a client without a certificate"
else
    fail "tlskit serve --client-ca refuses a client without a certificate" "$(cat "$WORK/serve.err")"
fi
stop_serve

# --- the demo -------------------------------------------------------------------------------
if timeout 60 "$TLSKIT" demo > "$WORK/demo.out" 2>&1 && grep -q "Demo complete" "$WORK/demo.out"; then
    ok "tlskit demo"
else
    fail "tlskit demo" "$(tail -5 "$WORK/demo.out")"
fi

echo
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
