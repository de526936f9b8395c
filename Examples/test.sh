#!/usr/bin/env bash
# Runs every example against real peers: curl against the NIO HTTPS server, the HTTPS GET
# client directly and through tinyproxy (HTTP CONNECT), the NIOAsyncChannel echo pair, curl
# against the server whose key is in a signing daemon.
#   Examples/test.sh BIN_DIR      (BIN_DIR: `swift build --show-bin-path`)
# Needs openssl, curl and tinyproxy; a missing tool is a failure, not a skip.
set -uo pipefail
BIN=${1:?usage: Examples/test.sh BIN_DIR}
for tool in openssl curl tinyproxy python3; do
    command -v "$tool" >/dev/null || { echo "Examples/test.sh needs $tool (apt-get install $tool)" >&2; exit 1; }
done
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
passed=0; failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "FAIL - $1"; echo "$2" | sed 's/^/    /'; failed=$((failed + 1)); }

# A throw-away CA and a localhost certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" -out "$WORK/ca.pem" \
    -subj "/CN=TLSKit examples CA" -days 1 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/leaf.key" -out "$WORK/leaf.csr" -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$WORK/ext"
openssl x509 -req -in "$WORK/leaf.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 1 \
    -extfile "$WORK/ext" -out "$WORK/leaf.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -out "$WORK/other-ca.pem" \
    -subj "/CN=Someone else" -days 1 2>/dev/null

# Starts a server that prints "listening on HOST:PORT"; sets PORT.
start() {
    local out=$1; shift
    "$@" > "$out" 2> "$out.err" &
    PIDS+=($!)
    PORT=""
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
        [ -n "$PORT" ] && return 0
        sleep 0.05
    done
    echo "server did not start: $(cat "$out.err")" >&2
    return 1
}

# --- the HTTP/1.1 server on SwiftNIO, TLS 1.3 + ALPN http/1.1, served to curl -----------------
start "$WORK/https.out" "$BIN/example-nio-https-server" --cert "$WORK/leaf.pem" --key "$WORK/leaf.key" --listen 127.0.0.1:0
HTTPS_PORT=$PORT
out=$(curl -sS --max-time 10 --cacert "$WORK/ca.pem" --tlsv1.3 --http1.1 -w '|%{http_version}|%{http_code}' \
    --resolve "localhost:$HTTPS_PORT:127.0.0.1" "https://localhost:$HTTPS_PORT/" 2>&1)
if [ "$out" = "hello over TLSv1.3 with ALPN http/1.1
|1.1|200" ]; then ok "NIO HTTPS server serves curl over TLS 1.3 with ALPN http/1.1"
else fail "NIO HTTPS server serves curl over TLS 1.3 with ALPN http/1.1" "$out"; fi

out=$(curl -sS --max-time 10 --cacert "$WORK/ca.pem" --tls-max 1.2 --resolve "localhost:$HTTPS_PORT:127.0.0.1" \
    "https://localhost:$HTTPS_PORT/" 2>&1); status=$?
if [ $status -ne 0 ] && echo "$out" | grep -qi "alert\|version"; then ok "NIO HTTPS server refuses a TLS 1.2-only client"
else fail "NIO HTTPS server refuses a TLS 1.2-only client" "exit $status: $out"; fi

out=$(curl -sS --max-time 10 --cacert "$WORK/ca.pem" --resolve "localhost:$HTTPS_PORT:127.0.0.1" -w 'connects=%{num_connects}\n' \
    "https://localhost:$HTTPS_PORT/a" "https://localhost:$HTTPS_PORT/b" 2>&1)
if [ "$(echo "$out" | grep -c '^hello over TLSv1.3')" = 2 ] && [ "$(echo "$out" | grep '^connects=' | tr '\n' ' ')" = "connects=1 connects=0 " ]; then ok "NIO HTTPS server keeps a connection alive for two requests"
else fail "NIO HTTPS server keeps a connection alive for two requests" "$out"; fi

# --- HTTPS GET over TLSSocket: directly, wrong CA, through tinyproxy ---------------------------
out=$(timeout 15 "$BIN/example-https-get" "https://localhost:$HTTPS_PORT/" --ca "$WORK/ca.pem" 2> "$WORK/get.err")
if [ "$out" = "hello over TLSv1.3 with ALPN http/1.1" ] && grep -q "^HTTP/1.1 200 OK" "$WORK/get.err" \
    && grep -q "tls: TLSv1.3, alpn: http/1.1" "$WORK/get.err"; then ok "HTTPS GET over TLSSocket"
else fail "HTTPS GET over TLSSocket" "$out $(cat "$WORK/get.err")"; fi

out=$(timeout 15 "$BIN/example-https-get" "https://localhost:$HTTPS_PORT/" --ca "$WORK/other-ca.pem" 2>&1); status=$?
if [ $status -eq 1 ] && echo "$out" | grep -q "certificateVerification"; then ok "HTTPS GET refuses a server its CA did not sign"
else fail "HTTPS GET refuses a server its CA did not sign" "exit $status: $out"; fi

PROXY_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
chmod 777 "$WORK"
{
    echo "Port $PROXY_PORT"; echo "Listen 127.0.0.1"; echo "Allow 127.0.0.1"; echo "Timeout 30"
    echo "LogFile \"$WORK/tinyproxy.log\""; echo "LogLevel Connect"; echo "MaxClients 10"
    echo "ConnectPort $HTTPS_PORT"
    if [ "$(id -u)" = 0 ]; then echo "User nobody"; echo "Group nogroup"; fi
} > "$WORK/tinyproxy.conf"
tinyproxy -d -c "$WORK/tinyproxy.conf" > "$WORK/tinyproxy.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1', $PROXY_PORT))" 2>/dev/null && break; sleep 0.05; done
out=$(timeout 15 "$BIN/example-https-get" "https://localhost:$HTTPS_PORT/" --ca "$WORK/ca.pem" --proxy "127.0.0.1:$PROXY_PORT" 2> "$WORK/proxy.err")
if [ "$out" = "hello over TLSv1.3 with ALPN http/1.1" ] && grep -q "^proxy: HTTP/1.[01] 200" "$WORK/proxy.err" \
    && grep -q "CONNECT localhost:$HTTPS_PORT" "$WORK/tinyproxy.log"; then ok "HTTPS GET through tinyproxy (cleartext CONNECT, then TLS)"
else fail "HTTPS GET through tinyproxy (cleartext CONNECT, then TLS)" "$out $(cat "$WORK/proxy.err" "$WORK/tinyproxy.out" "$WORK/tinyproxy.log" 2>/dev/null | tail -8)"; fi

out=$(timeout 15 "$BIN/example-https-get" "https://localhost:1/" --ca "$WORK/ca.pem" --proxy "127.0.0.1:$PROXY_PORT" 2>&1); status=$?
if [ $status -eq 1 ] && echo "$out" | grep -q "the proxy refused the tunnel: HTTP/1.[01] 403"; then ok "HTTPS GET reports a tunnel the proxy refuses"
else fail "HTTPS GET reports a tunnel the proxy refuses" "exit $status: $out"; fi

# --- echo with NIOAsyncChannel on both sides -------------------------------------------------
start "$WORK/echo.out" "$BIN/example-nio-async-echo" server --cert "$WORK/leaf.pem" --key "$WORK/leaf.key" --listen 127.0.0.1:0
out=$(timeout 15 "$BIN/example-nio-async-echo" client "127.0.0.1:$PORT" --ca "$WORK/ca.pem" --server-name localhost --message "ping over NIOAsyncChannel" 2>&1)
if [ "$out" = "ping over NIOAsyncChannel" ]; then ok "NIOAsyncChannel echo client and server"
else fail "NIOAsyncChannel echo client and server" "$out $(cat "$WORK/echo.out.err")"; fi
out=$(timeout 15 "$BIN/example-nio-async-echo" client "127.0.0.1:$PORT" --ca "$WORK/other-ca.pem" --server-name localhost 2>&1); status=$?
if [ $status -eq 1 ] && echo "$out" | grep -q "certificateVerification"; then ok "NIOAsyncChannel echo client refuses an untrusted server"
else fail "NIOAsyncChannel echo client refuses an untrusted server" "exit $status: $out"; fi

# --- the server's key in another process: a signing daemon on a Unix socket ------------------
# The daemon reads the key, then the key file is deleted: the server is never told where a key
# is and could not open one if it tried.
cp "$WORK/leaf.key" "$WORK/daemon.key"
start_line() {  # like start, for a line other than "listening on"
    local out=$1 pattern=$2; shift 2
    "$@" > "$out" 2> "$out.err" &
    PIDS+=($!)
    for _ in $(seq 1 100); do grep -q "$pattern" "$out" && return 0; sleep 0.05; done
    echo "did not start: $(cat "$out.err")" >&2
    return 1
}
start_line "$WORK/daemon.out" "^signing on" "$BIN/example-remote-signer" daemon --key "$WORK/daemon.key" --socket "$WORK/signer.sock"
DAEMON_PID=${PIDS[-1]}
rm -f "$WORK/daemon.key"
start "$WORK/remote.out" "$BIN/example-remote-signer" serve --cert "$WORK/leaf.pem" --socket "$WORK/signer.sock" --listen 127.0.0.1:0
REMOTE_PORT=$PORT
for version in 1.3 1.2; do
    out=$(curl -sS --max-time 10 --cacert "$WORK/ca.pem" --tlsv$version --tls-max $version \
        --resolve "localhost:$REMOTE_PORT:127.0.0.1" "https://localhost:$REMOTE_PORT/" 2>&1)
    if [ "$out" = "signed by the daemon, over TLSv$version" ]; then ok "remote signer: curl gets TLS $version from a server whose key is in the daemon"
    else fail "remote signer: curl gets TLS $version from a server whose key is in the daemon" "$out $(cat "$WORK/remote.out.err")"; fi
done
if [ "$(grep -c '^signed [0-9]* digest' "$WORK/daemon.out.err")" = 2 ]; then ok "remote signer: the daemon made one signature per handshake"
else fail "remote signer: the daemon made one signature per handshake" "$(cat "$WORK/daemon.out.err")"; fi
kill "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null
out=$(curl -sS --max-time 10 --cacert "$WORK/ca.pem" --resolve "localhost:$REMOTE_PORT:127.0.0.1" "https://localhost:$REMOTE_PORT/" 2>&1); status=$?
for _ in $(seq 1 100); do grep -q "could not sign" "$WORK/remote.out.err" && break; sleep 0.05; done
if [ $status -ne 0 ] && grep -q "could not sign: signer 'daemon at .*' failed to sign for .*cannot reach the signing daemon" "$WORK/remote.out.err"
then ok "remote signer: with the daemon gone, the handshake fails and the server names the signer"
else fail "remote signer: with the daemon gone, the handshake fails and the server names the signer" "exit $status: $out $(cat "$WORK/remote.out.err")"; fi

echo
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
