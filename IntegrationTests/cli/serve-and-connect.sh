# Part of IntegrationTests/cli.sh (sourced; uses its helpers and variables): tlskit serve and connect against s_client, s_server and curl; refusals, resumption,
# flags, JSON, verification no switch can bypass.

for B in $BACKENDS; do
# --- tlskit serve: s_client and curl, both versions, both key types ----------------------
for kind in ecdsa rsa; do
    start_serve --backend $B --cert "$WORK/$kind.pem" --key "$WORK/$kind.key" --mode http --alpn http/1.1 || { fail "[$B] serve $kind starts"; continue; }
    for v in 1.2 1.3; do
        flag="-tls1_${v#1.}"
        out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:$PORT -servername localhost \
            -verify_hostname localhost -CAfile "$WORK/$kind-ca.pem" -verify_return_error $flag -ign_eof 2>&1)
        if echo "$out" | grep -q "Protocol: TLSv$v" && echo "$out" | grep -q "Verify return code: 0 (ok)"; then
            ok "[$B] s_client TLS $v ($kind) -> tlskit serve"
        else
            fail "[$B] s_client TLS $v ($kind) -> tlskit serve" "$(echo "$out" | tail -5)"
        fi
        body=$(timeout 10 curl -sS --cacert "$WORK/$kind-ca.pem" --resolve localhost:$PORT:127.0.0.1 \
            --tlsv$v --tls-max $v https://localhost:$PORT/ 2>&1)
        if echo "$body" | grep -q "Protocol: TLSv$v" && echo "$body" | grep -q "ALPN: http/1.1"; then
            ok "[$B] curl TLS $v ($kind) -> tlskit serve"
        else
            fail "[$B] curl TLS $v ($kind) -> tlskit serve" "$body"
        fi
    done
    stop_serve
done

# --- tlskit connect against s_server ---------------------------------------------------
for kind in ecdsa rsa; do
    for v in 1.2 1.3; do
        start_s_server -cert "$WORK/$kind.pem" -key "$WORK/$kind.key" -tls1_${v#1.}
        json=$(timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/$kind-ca.pem" --json 2>"$WORK/connect.err")
        status=$?
        version=$(echo "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["version"], d["verified"], len(d["peerChain"]))' 2>/dev/null)
        if [ $status -eq 0 ] && [ "$version" = "TLSv$v True 1" ]; then
            ok "[$B] tlskit connect TLS $v ($kind) -> s_server"
        else
            fail "[$B] tlskit connect TLS $v ($kind) -> s_server" "exit $status: $json $(cat "$WORK/connect.err")"
        fi
        stop_s_server
    done
done

# --- refusals: exit 2 and one line naming the cause -------------------------------------
start_s_server -cert "$WORK/other.pem" -key "$WORK/other.key"
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 2 ] && [ "$(wc -l < "$WORK/err")" -eq 1 ] && grep -q "certificateVerification" "$WORK/err" && grep -q "trust" "$WORK/err"; then
    ok "[$B] untrusted server: exit 2, one line naming the cause"
else
    fail "[$B] untrusted server: exit 2, one line naming the cause" "exit $status: $(cat "$WORK/err")"
fi
stop_s_server

start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key"
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name wrong.example --ca "$WORK/ecdsa-ca.pem" > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 2 ] && grep -q "hostname mismatch" "$WORK/err" && grep -q "wrong.example" "$WORK/err"; then
    ok "[$B] wrong server name: exit 2, names the mismatch"
else
    fail "[$B] wrong server name: exit 2, names the mismatch" "exit $status: $(cat "$WORK/err")"
fi
stop_s_server

start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key" -tls1_3
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --max-version 1.2 > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 2 ] && grep -qi "version" "$WORK/err"; then
    ok "[$B] version mismatch: exit 2, names the version"
else
    fail "[$B] version mismatch: exit 2, names the version" "exit $status: $(cat "$WORK/err")"
fi
stop_s_server

# --- resumption, verification time, insecure switches, key log -------------------------
for v in 1.2 1.3; do
    openssl s_server -accept 127.0.0.1:0 -naccept 3 -www -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key" -tls1_${v#1.} < /dev/null > "$WORK/s_server.out" 2>&1 &
    PIDS+=($!); S_PID=$!
    SPORT=""; for _ in $(seq 1 200); do SPORT=$(sed -n 's/^ACCEPT 127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/s_server.out"); [ -n "$SPORT" ] && break; sleep 0.05; done
    out=$(timeout 20 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --reconnect 2 2>&1)
    if echo "$out" | grep -q "resumed       no" && echo "$out" | grep -q "reconnect 2: TLSv$v, resumed yes"; then
        ok "[$B] tlskit connect --reconnect resumes against s_server, TLS $v"
    else
        fail "[$B] tlskit connect --reconnect resumes against s_server, TLS $v" "$(echo "$out" | tail -4)"
    fi
    stop_s_server
done

start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key"
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --verify-time 2099-01-01T00:00:00Z > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 2 ] && grep -q "expired: notAfter" "$WORK/err" && grep -q "checked at 2099-01-01" "$WORK/err"; then
    ok "[$B] --verify-time in the future: expired, with notAfter and the time checked"
elif [ $status -eq 1 ] && grep -q "unsupportedFeature" "$WORK/err" && [ "$B" = gnutls ]; then
    ok "[$B] --verify-time: refused as unsupported by this backend"
else
    fail "[$B] --verify-time in the future" "exit $status: $(cat "$WORK/err")"
fi
stop_s_server

start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key"
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name wrong.example --ca "$WORK/ecdsa-ca.pem" --insecure-no-hostname-check \
    --keylog "$WORK/keys.log" --json > "$WORK/out" 2> "$WORK/err"
status=$?
if [ $status -eq 0 ] && grep -q "WARNING: --insecure-no-hostname-check" "$WORK/err" && grep -q '"verification":"NOT VERIFIED' "$WORK/out"; then
    ok "[$B] --insecure-no-hostname-check connects to the wrong name, warns, reports it unverified"
else
    fail "[$B] --insecure-no-hostname-check" "exit $status: $(cat "$WORK/err" "$WORK/out")"
fi
if grep -Eq '^(CLIENT_HANDSHAKE_TRAFFIC_SECRET|CLIENT_RANDOM) [0-9a-f]{64} [0-9a-f]+$' "$WORK/keys.log" && grep -q "WARNING: writing TLS session secrets" "$WORK/err"; then
    ok "[$B] --keylog writes NSS key-log lines, with a warning"
else
    fail "[$B] --keylog writes NSS key-log lines, with a warning" "$(head -3 "$WORK/keys.log" 2>/dev/null)"
fi
stop_s_server
start_s_server -cert "$WORK/other.pem" -key "$WORK/other.key"
SSLKEYLOGFILE="$WORK/env-keys.log" timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --insecure-no-verify > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 0 ] && grep -q "WARNING: --insecure-no-verify" "$WORK/err" && [ -s "$WORK/env-keys.log" ]; then
    ok "[$B] --insecure-no-verify connects to an untrusted server, warns; SSLKEYLOGFILE honoured by the tool"
else
    fail "[$B] --insecure-no-verify / SSLKEYLOGFILE" "exit $status: $(cat "$WORK/err")"
fi
stop_s_server
rm -f "$WORK/keys.log" "$WORK/env-keys.log"

# --- s_client-style flags and one JSON document ---------------------------------------------
start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key" -naccept 3
timeout 20 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --json \
    --reconnect 2 --min-version 1.3 --ciphers TLS_AES_128_GCM_SHA256 --groups P-256 > "$WORK/out" 2> "$WORK/err"
status=$?
if [ $status -eq 0 ] && python3 -c '
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
d = docs[0]
assert len(docs) == 1, docs
assert d["cipher"] == "TLS_AES_128_GCM_SHA256" and d["group"] == "secp256r1", d
assert [r["resumed"] for r in d["reconnects"]] == [True, True] and d["resumedCount"] == 2, d
' "$WORK/out"; then
    ok "[$B] --json with --reconnect prints one JSON document; --ciphers and --groups are honoured"
else
    fail "[$B] --json --reconnect / --ciphers / --groups" "exit $status: $(cat "$WORK/err" "$WORK/out")"
fi
stop_s_server
start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key"
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --verify-depth 1 > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 2 ] && grep -q "maximumChainLength (1)" "$WORK/err"; then
    ok "[$B] --verify-depth 1 refuses a leaf with its CA (two certificates)"
else
    fail "[$B] --verify-depth 1" "exit $status: $(cat "$WORK/err")"
fi
stop_s_server
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:1 --policy lax > /dev/null 2> "$WORK/err"
[ $? -eq 1 ] && grep -q "policy must be system, modern or compatible" "$WORK/err" && ok "[$B] --policy names its values" \
    || fail "[$B] --policy names its values" "$(cat "$WORK/err")"
start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --sni-cert "charger-17.local=$WORK/device.pem,$WORK/device.key" \
    || fail "[$B] serve --sni-cert starts"
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$PORT --server-name charger-17.local --pin "$DEVICE_PIN" > /dev/null 2> "$WORK/err"
by_name=$?
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$PORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" > /dev/null 2>> "$WORK/err"
default=$?
if [ $by_name -eq 0 ] && [ $default -eq 0 ]; then
    ok "[$B] serve --sni-cert serves the named chain by SNI and the default chain otherwise"
else
    fail "[$B] serve --sni-cert" "by name: $by_name, default: $default: $(cat "$WORK/err")"
fi
stop_serve
start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --policy modern || fail "[$B] serve --policy modern starts"
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$PORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --max-version 1.2 > /dev/null 2> "$WORK/err"
[ $? -eq 2 ] && ok "[$B] serve --policy modern refuses a TLS 1.2 client" || fail "[$B] serve --policy modern refuses TLS 1.2" "$(cat "$WORK/err")"
stop_serve

# --- verification no switch can bypass: policies with chain checks off, pinning ------------
start_s_server -cert "$WORK/device.pem" -key "$WORK/device.key"
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" \
    --insecure-no-verify --insecure-no-hostname-check --webpki > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 2 ] && grep -q "webPKI" "$WORK/err" && grep -q "did not verify the chain" "$WORK/err"; then
    ok "[$B] --insecure-no-verify --webpki to a self-signed server exits 2 and names the policy's reason"
else
    fail "[$B] --insecure-no-verify --webpki must not pass a self-signed server" "exit $status: $(cat "$WORK/err")"
fi
stop_s_server
start_s_server -cert "$WORK/device.pem" -key "$WORK/device.key"
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --pin "$DEVICE_PIN" --json > "$WORK/out" 2> "$WORK/err"
status=$?
if [ $status -eq 0 ] && python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["verification"] == "pinned key" and d["pin"] == sys.argv[2], d' "$WORK/out" "$DEVICE_PIN"; then
    ok "[$B] --pin accepts the pinned self-signed server by address, and --json prints its pin"
else
    fail "[$B] --pin accepts the pinned server" "exit $status: $(cat "$WORK/err" "$WORK/out")"
fi
stop_s_server
start_s_server -cert "$WORK/other.pem" -key "$WORK/other.key"
timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --pin "$DEVICE_PIN" > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 2 ] && grep -q "pinned keys" "$WORK/err"; then
    ok "[$B] --pin refuses a server with another key"
else
    fail "[$B] --pin refuses a server with another key" "exit $status: $(cat "$WORK/err")"
fi
stop_s_server
start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --client-ca "$WORK/ecdsa-ca.pem" --allow-client 'dns:*.fleet.example' \
    || fail "[$B] serve --allow-client starts"
for c in a.fleet.example b.other.example; do
    out=$(timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$PORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" \
        --cert "$WORK/$c.pem" --key "$WORK/$c.key" --send 'hello' 2> "$WORK/err")
    status=$?
    if [ $c = a.fleet.example ] && [ $status -eq 0 ] && printf '%s\n' "$out" | grep -q '^hello$'; then
        ok "[$B] serve --allow-client 'dns:*.fleet.example' lets $c in"
    elif [ $c = b.other.example ] && [ $status -eq 2 ] && grep -q "allowPeers\|matches none" "$WORK/serve.err"; then
        ok "[$B] serve --allow-client 'dns:*.fleet.example' refuses $c and says why"
    else
        fail "[$B] serve --allow-client with $c" "exit $status, out '$out': $(cat "$WORK/err") / server: $(tail -2 "$WORK/serve.err")"
    fi
done
stop_serve
done  # backends
