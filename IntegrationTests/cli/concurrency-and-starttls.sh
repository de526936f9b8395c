# Part of IntegrationTests/cli.sh (sourced; uses its helpers and variables): many connections, descriptor leaks, STARTTLS, gnutls-serv, configuration errors, mutual TLS.

for B in $BACKENDS; do
# --- many connections at once (tlskit serve runs on SwiftNIO) -----------------------------
start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" || fail "[$B] echo serve starts"
out=$(timeout 60 python3 - "$PORT" "$WORK/ecdsa-ca.pem" <<'PY'
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
conns = []
for i in range(50):                      # 50 open at once, then each echoes
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    conns.append(ctx.wrap_socket(raw, server_hostname="localhost"))
ok = 0
for i, c in enumerate(conns):
    c.sendall(b"hello %d\n" % i)
    if c.recv(100) == b"hello %d\n" % i: ok += 1
for c in conns: c.close()
print("echoed", ok)
PY
)
if [ "$out" = "echoed 50" ]; then ok "[$B] tlskit serve holds 50 concurrent TLS connections"
else fail "[$B] tlskit serve holds 50 concurrent TLS connections" "$out $(tail -3 "$WORK/serve.err")"; fi
stop_serve

# --- 1,000 connections: no descriptor leaks on either side ---------------------------------
start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --mode http || fail "[$B] serve for the leak check starts"
before=$(ls /proc/$SERVE_PID/fd | wc -l)
out=$(timeout 120 "$TLSKIT" connect --backend $B 127.0.0.1:$PORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" \
    --send 'GET / HTTP/1.0\r\n\r\n' --reconnect 999 2>&1)
sleep 0.5
after=$(ls /proc/$SERVE_PID/fd | wc -l)
line=$(echo "$out" | grep "open descriptors before/after")
client_before=$(echo "$line" | sed 's|.*after: \([0-9]*\)/.*|\1|'); client_after=$(echo "$line" | sed 's|.*/\([0-9]*\)$|\1|')
if [ -n "$line" ] && [ "$before" = "$after" ] && [ "$client_before" = "$client_after" ]; then
    ok "[$B] 1,000 connections leak no descriptor (server $before/$after, client $client_before/$client_after)"
else
    fail "[$B] 1,000 connections leak no descriptor" "server $before/$after; $line; $(echo "$out" | tail -2)"
fi
stop_serve

# --- STARTTLS (SMTP): tlskit serve against s_client and curl, tlskit connect against aiosmtpd -
start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --starttls smtp || fail "[$B] serve --starttls smtp starts"
out=$(printf 'QUIT\r\n' | timeout 10 openssl s_client -starttls smtp -connect 127.0.0.1:$PORT -CAfile "$WORK/ecdsa-ca.pem" -verify_return_error -brief 2>&1)
if echo "$out" | grep -q "Protocol version: TLSv1.3" && echo "$out" | grep -q "Verification: OK"; then ok "[$B] openssl s_client -starttls smtp -> tlskit serve --starttls smtp"
else fail "[$B] openssl s_client -starttls smtp -> tlskit serve --starttls smtp" "$(echo "$out" | tail -3)"; fi
printf 'Subject: TLSKit test\r\n\r\nhello over STARTTLS\r\n' > "$WORK/mail.txt"
if timeout 15 curl -sS --ssl-reqd --cacert "$WORK/ecdsa-ca.pem" --mail-from a@example.test --mail-rcpt b@example.test \
        -T "$WORK/mail.txt" smtp://127.0.0.1:$PORT 2> "$WORK/err"; then
    sleep 0.2
    if grep -q "1 message(s) over TLSv1.3" "$WORK/serve.out"; then ok "[$B] curl smtp:// --ssl-reqd delivers a message to tlskit serve --starttls smtp"
    else fail "[$B] curl smtp:// --ssl-reqd delivers a message" "$(cat "$WORK/serve.out")"; fi
else
    fail "[$B] curl smtp:// --ssl-reqd delivers a message" "$(cat "$WORK/err")"
fi
out=$(timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$PORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --starttls smtp 2>&1)
if echo "$out" | grep -q "SMTP: 221"; then ok "[$B] tlskit connect --starttls smtp -> tlskit serve --starttls smtp"
else fail "[$B] tlskit connect --starttls smtp -> tlskit serve --starttls smtp" "$(echo "$out" | tail -3)"; fi
stop_serve
APORT=""
# Below the ephemeral range, where no client socket of this run can hold the port.
read -r eph_low _ < /proc/sys/net/ipv4/ip_local_port_range
for _ in $(seq 1 20); do c=$((10000 + RANDOM % (eph_low - 10000))); (echo > /dev/tcp/127.0.0.1/$c) 2>/dev/null || { APORT=$c; break; }; done
python3 -m aiosmtpd -n -l 127.0.0.1:$APORT --tlscert "$WORK/ecdsa.pem" --tlskey "$WORK/ecdsa.key" > "$WORK/aiosmtpd.log" 2>&1 &
PIDS+=($!); A_PID=$!
for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$APORT) 2>/dev/null && break; sleep 0.05; done
out=$(timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$APORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --starttls smtp 2>&1)
if echo "$out" | grep -q "verified" && echo "$out" | grep -q "SMTP: 221"; then ok "[$B] tlskit connect --starttls smtp -> aiosmtpd (a real SMTP server)"
else fail "[$B] tlskit connect --starttls smtp -> aiosmtpd" "$(echo "$out" | tail -3) $(tail -3 "$WORK/aiosmtpd.log")"; fi
kill $A_PID 2>/dev/null; wait $A_PID 2>/dev/null

# --- our client against gnutls-serv, in a private network namespace -----------------------
# gnutls-serv cannot bind to loopback only, so it runs where loopback is the only interface.
for v in 1.2 1.3; do
    unshare -n bash -c '
        ip link set lo up
        gnutls-serv --port 5556 --x509certfile "$1/ecdsa.pem" --x509keyfile "$1/ecdsa.key" \
            --priority "NORMAL:-VERS-ALL:+VERS-TLS$3" > "$1/gserv.out" 2>&1 &
        for _ in $(seq 1 100); do grep -q "listening" "$1/gserv.out" && break; sleep 0.05; done
        timeout 15 "$2" connect --backend "$4" 127.0.0.1:5556 --server-name localhost --ca "$1/ecdsa-ca.pem" --json \
            --send "GET / HTTP/1.0\r\n\r\n" > "$1/gconnect.out" 2> "$1/gconnect.err"
        echo $? > "$1/gconnect.status"
        kill %1
    ' _ "$WORK" "$TLSKIT" "$v" "$B"
    if [ "$(cat "$WORK/gconnect.status")" = 0 ] && grep -q "\"version\":\"TLSv$v\"" "$WORK/gconnect.out" && grep -qi "gnutls" "$WORK/gconnect.out"; then
        ok "[$B] tlskit connect TLS $v -> gnutls-serv"
    else
        fail "[$B] tlskit connect TLS $v -> gnutls-serv" "$(cat "$WORK/gconnect.status" "$WORK/gconnect.err" "$WORK/gserv.out" 2>/dev/null | tail -5)"
    fi
done
done  # backends

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
for B in $BACKENDS; do
start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --client-ca "$WORK/ecdsa-ca.pem" || fail "[$B] mTLS serve starts"
out=$(timeout 15 "$TLSKIT" connect 127.0.0.1:$PORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" \
    --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --send 'hello echo\n' 2>&1)
if echo "$out" | grep -q "hello echo"; then ok "[$B] tlskit connect --send with a client certificate -> tlskit serve (echo)"; else fail "[$B] mTLS echo" "$out"; fi
out=$(printf 'x\n' | timeout 10 openssl s_client -connect 127.0.0.1:$PORT -servername localhost -CAfile "$WORK/ecdsa-ca.pem" -tls1_2 2>&1)
sleep 0.2
if grep -q "sent no certificate" "$WORK/serve.err"; then
    ok "[$B] tlskit serve --client-ca refuses a client without a certificate"
else
    fail "[$B] tlskit serve --client-ca refuses a client without a certificate" "$(cat "$WORK/serve.err")"
fi
stop_serve
done
