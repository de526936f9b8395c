# Part of IntegrationTests/cli.sh (sourced; uses its helpers and variables): `tlskit serve` reloads
# --cert/--key on SIGHUP; new connections get the new chain, an open one keeps working, and a
# reload that fails changes nothing (issue 13).

# An open connection across the reload: it handshakes, echoes once, prints the leaf's SHA-256,
# then waits for $3 to exist and echoes again.
cat > "$WORK/held.py" <<'PY'
import hashlib, os, socket, ssl, sys, time
port, cafile, go = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
tls = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
def echo(text):
    tls.sendall(text)
    got = b""
    while len(got) < len(text):
        chunk = tls.recv(4096)
        if not chunk: break
        got += chunk
    return got == text
print("LEAF", hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest(), "ECHO1", echo(b"one\n"), flush=True)
end = time.monotonic() + 20
while not os.path.exists(go) and time.monotonic() < end: time.sleep(0.05)
print("ECHO2", echo(b"two\n"), flush=True)
PY
leaf_sha() { openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1; }
served_sha() { # the leaf a new connection to $PORT gets
    openssl s_client -connect 127.0.0.1:$PORT -servername localhost < /dev/null 2>/dev/null \
        | openssl x509 -outform DER 2>/dev/null | openssl dgst -sha256 -r | cut -d' ' -f1
}
wait_for() { # $1 file, $2 pattern: up to 10 s
    for _ in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1
}
cat "$WORK/ecdsa-ca.pem" "$WORK/rsa-ca.pem" > "$WORK/both-ca.pem"
for B in $BACKENDS; do
    cp "$WORK/ecdsa.pem" "$WORK/live.pem"; cp "$WORK/ecdsa.key" "$WORK/live.key"; rm -f "$WORK/go"
    start_serve --backend $B --cert "$WORK/live.pem" --key "$WORK/live.key" --mode echo || { fail "[$B] serve for reload starts"; continue; }
    python3 "$WORK/held.py" "$PORT" "$WORK/both-ca.pem" "$WORK/go" > "$WORK/held.out" 2>&1 &
    held=$!; PIDS+=($held)
    wait_for "$WORK/held.out" "^LEAF" || fail "[$B] the held connection opens" "$(cat "$WORK/held.out")"
    # Rotate to the RSA chain in place, then SIGHUP.
    cp "$WORK/rsa.pem" "$WORK/live.pem"; cp "$WORK/rsa.key" "$WORK/live.key"
    kill -HUP "$SERVE_PID"
    if wait_for "$WORK/serve.out" "^reloaded 1 certificate chain"; then ok "[$B] SIGHUP reloads"; else fail "[$B] SIGHUP reloads" "$(cat "$WORK/serve.err")"; fi
    got=$(served_sha)
    [ "$got" = "$(leaf_sha "$WORK/rsa.pem")" ] && ok "[$B] a new connection after SIGHUP gets the new certificate" \
        || fail "[$B] a new connection after SIGHUP gets the new certificate" "got leaf $got"
    touch "$WORK/go"; wait "$held"
    if grep -q "^LEAF $(leaf_sha "$WORK/ecdsa.pem") ECHO1 True" "$WORK/held.out" && grep -q "^ECHO2 True" "$WORK/held.out"; then
        ok "[$B] a connection opened before SIGHUP keeps its certificate and keeps working"
    else
        fail "[$B] a connection opened before SIGHUP keeps its certificate and keeps working" "$(cat "$WORK/held.out")"
    fi
    # A reload that cannot load (the key no longer matches) keeps the RSA chain.
    cp "$WORK/ecdsa.key" "$WORK/live.key"
    kill -HUP "$SERVE_PID"
    if wait_for "$WORK/serve.err" "reload on SIGHUP failed, still serving the previous certificates"; then
        ok "[$B] a failed reload says so"
    else
        fail "[$B] a failed reload says so" "$(cat "$WORK/serve.err")"
    fi
    got=$(served_sha)
    [ "$got" = "$(leaf_sha "$WORK/rsa.pem")" ] && ok "[$B] a failed reload keeps serving the previous certificate" \
        || fail "[$B] a failed reload keeps serving the previous certificate" "got leaf $got"
    kill -0 "$SERVE_PID" 2>/dev/null && ok "[$B] serve survives a failed reload" || fail "[$B] serve survives a failed reload"
    stop_serve
done
