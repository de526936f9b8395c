# Part of IntegrationTests/cli.sh (sourced; uses its helpers and variables): the demo, key-log file safety, PIN redaction, no anonymous suites, TPM slot errors, serve --mode http.

# --- the demo -------------------------------------------------------------------------------
for B in $BACKENDS; do
    if timeout 60 "$TLSKIT" demo --backend $B > "$WORK/demo.out" 2>&1 && grep -q "Demo complete" "$WORK/demo.out"; then
        ok "[$B] tlskit demo"
    else
        fail "[$B] tlskit demo" "$(tail -5 "$WORK/demo.out")"
    fi
done

# --- key-log files: never through a link, never another user's file, created 0600 --------------
start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key"
keylog_connect() { timeout 15 "$TLSKIT" connect 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" "$@" > /dev/null 2> "$WORK/err"; }
echo "not for secrets" > "$WORK/keylog-target"; ln -sf "$WORK/keylog-target" "$WORK/keylog-link"
keylog_connect --keylog "$WORK/keylog-link"; status=$?
if [ $status -eq 1 ] && grep -q "symbolic link" "$WORK/err" && [ "$(cat "$WORK/keylog-target")" = "not for secrets" ]; then
    ok "--keylog through a symbolic link: refused (exit 1), the target untouched"
else fail "--keylog through a symbolic link: refused (exit 1), the target untouched" "exit $status: $(cat "$WORK/err")"; fi
SSLKEYLOGFILE="$WORK/keylog-link" keylog_connect; status=$?
if [ $status -eq 1 ] && grep -q "symbolic link" "$WORK/err" && [ "$(cat "$WORK/keylog-target")" = "not for secrets" ]; then
    ok "SSLKEYLOGFILE naming a symbolic link: refused (exit 1)"
else fail "SSLKEYLOGFILE naming a symbolic link: refused (exit 1)" "exit $status: $(cat "$WORK/err")"; fi
install -m 600 /dev/null "$WORK/keylog-nobody"; chown nobody "$WORK/keylog-nobody"
keylog_connect --keylog "$WORK/keylog-nobody"; status=$?
if [ $status -eq 1 ] && grep -q "another user" "$WORK/err" && [ ! -s "$WORK/keylog-nobody" ]; then
    ok "--keylog naming another user's file: refused (exit 1), nothing appended"
else fail "--keylog naming another user's file: refused (exit 1), nothing appended" "exit $status: $(cat "$WORK/err")"; fi
install -m 644 /dev/null "$WORK/keylog-open"
keylog_connect --keylog "$WORK/keylog-open"; status=$?
if [ $status -eq 1 ] && grep -q "chmod 600" "$WORK/err" && [ ! -s "$WORK/keylog-open" ]; then
    ok "--keylog naming a file others can read: refused (exit 1), says chmod 600"
else fail "--keylog naming a file others can read: refused (exit 1), says chmod 600" "exit $status: $(cat "$WORK/err")"; fi
keylog_connect --keylog "$WORK"; status=$?
if [ $status -eq 1 ] && grep -q "key-log file" "$WORK/err"; then ok "--keylog naming a directory: refused (exit 1)"
else fail "--keylog naming a directory: refused (exit 1)" "exit $status: $(cat "$WORK/err")"; fi
stop_s_server
start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key"
keylog_connect --keylog "$WORK/keylog-new"; status=$?
mode=$(stat -c %a "$WORK/keylog-new" 2>/dev/null)
if [ $status -eq 0 ] && [ "$mode" = 600 ] && [ -s "$WORK/keylog-new" ]; then ok "--keylog creates a new file with mode 0600"
else fail "--keylog creates a new file with mode 0600" "exit $status, mode $mode: $(cat "$WORK/err")"; fi
stop_s_server
start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key"
lines=$(wc -l < "$WORK/keylog-new")
keylog_connect --keylog "$WORK/keylog-new"; status=$?
if [ $status -eq 0 ] && [ "$(wc -l < "$WORK/keylog-new")" -gt "$lines" ]; then ok "--keylog appends to this user's own 0600 file"
else fail "--keylog appends to this user's own 0600 file" "exit $status: $(cat "$WORK/err")"; fi
stop_s_server

# --- PINs are never printed: error lines and key listings ---------------------------------------
for B in $BACKENDS; do
    timeout 15 "$TLSKIT" serve --backend $B --listen 127.0.0.1:0 --cert 'pkcs11:token=no-such-token;object=x;type=cert?PIN-VALUE=271828' \
        --key "$WORK/ecdsa.key" > /dev/null 2> "$WORK/err"
    status=$?
    if [ $status -eq 1 ] && ! grep -q 271828 "$WORK/err" && grep -q "no-such-token" "$WORK/err"; then ok "[$B] an unknown pkcs11: certificate URI: exit 1, the PIN not printed"
    else fail "[$B] an unknown pkcs11: certificate URI: exit 1, the PIN not printed" "exit $status: $(cat "$WORK/err")"; fi
    timeout 15 "$TLSKIT" keys list --backend $B 'pkcs11:token=no-such-token?pin%2Dvalue=271828' > "$WORK/out" 2> "$WORK/err"
    if ! grep -q 271828 "$WORK/out" "$WORK/err"; then ok "[$B] keys list of an unknown store: the PIN not printed"
    else fail "[$B] keys list of an unknown store: the PIN not printed" "$(cat "$WORK/out" "$WORK/err")"; fi
done

# --- anonymous and NULL-encryption suites: a real client cannot get one -------------------------
for B in $BACKENDS; do
    start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --max-version 1.2 || { fail "[$B] serve starts"; continue; }
    out=$(echo | timeout 10 openssl s_client -connect 127.0.0.1:$PORT -tls1_2 -cipher 'aNULL:eNULL:@SECLEVEL=0' 2>&1)
    if ! echo "$out" | grep -Eq "Cipher is [A-Z]" || echo "$out" | grep -q "Cipher is (NONE)"; then
        ok "[$B] s_client offering only aNULL/eNULL suites gets no handshake"
    else fail "[$B] s_client offering only aNULL/eNULL suites gets no handshake" "$(echo "$out" | grep -i cipher)"; fi
    stop_serve
done

# --- a TPM key without a resource manager: the error names the cause and the fix --------------
if [ -n "${TPM_DIRECT_TCTI:-}" ]; then
    start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key" -Verify 1 -CAfile "$WORK/ecdsa-ca.pem"
    timeout 30 "$TLSKIT" connect --provider default --provider tpm2 --propquery '?tpm2.signature' --tcti "$TPM_DIRECT_TCTI" \
        127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --cert "$TPM_EC_CERT" --key handle:0x81000001 \
        --send 'GET / HTTP/1.0\r\n\r\n' > "$WORK/out" 2> "$WORK/err"
    status=$?
    if [ $status -eq 0 ] && grep -q "CN=localhost" "$WORK/out"; then
        ok "[openssl] TPM client key reached without a resource manager: handshake completes"
    elif [ $status -eq 2 ] && grep -q "object slots" "$WORK/err" && grep -q "/dev/tpmrm0" "$WORK/err" && grep -q "tabrmd" "$WORK/err"; then
        ok "[openssl] TPM client key reached without a resource manager: exit 2, names the slots and the resource manager to use"
    else
        fail "[openssl] TPM client key reached without a resource manager: works, or names the cause and the fix" "exit $status: $(grep -v tcti "$WORK/err")"
    fi
    stop_s_server
    TPM2TOOLS_TCTI="$TPM_DIRECT_TCTI" tpm2_flushcontext -t > /dev/null 2>&1 || true
else
    fail "[openssl] TPM client key without a resource manager: scripts/hwkeys gave no TPM_DIRECT_TCTI"
fi

# --- serve --mode http: an empty line ends the request, with LF-only lines too (as s_server -www) ---
# The client sends the head and then waits, without closing: a server that looks only for
# CRLF CRLF never answers, and the client's 5 s time-out reports NO-ANSWER.
cat > "$WORK/lf-request.py" <<'PY'
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as raw:
    with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        tls.sendall(sys.argv[3].encode().decode("unicode_escape").encode())
        data = b""
        try:
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (socket.timeout, ssl.SSLError, OSError):
            pass
        print(data.decode(errors="replace") if data else "NO-ANSWER")
PY
for B in $BACKENDS; do
    start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --mode http || { fail "[$B] serve --mode http starts"; continue; }
    for request in 'GET / HTTP/1.0\n\n' 'GET / HTTP/1.0\nHost: localhost\n\n' 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' 'GET / HTTP/1.0\nHost: localhost\r\n\r\n'; do
        out=$(timeout 15 python3 "$WORK/lf-request.py" "$PORT" "$WORK/ecdsa-ca.pem" "$request" 2>&1)
        if echo "$out" | grep -q "^HTTP/1.0 200 OK" && echo "$out" | grep -q "Protocol: TLSv"; then
            ok "[$B] serve --mode http answers a request ending in an empty line: $request"
        else fail "[$B] serve --mode http answers a request ending in an empty line: $request" "$(echo "$out" | tail -3)"; fi
    done
    stop_serve
done
