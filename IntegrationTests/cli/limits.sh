# Part of IntegrationTests/cli.sh (sourced; uses its helpers and variables): bounded memory, --max-connections, --idle-timeout, 10,000 idle connections, descriptor exhaustion.

# --- bounded memory: a client that writes 400 MiB and never reads (issue 10) ---------------------
# Echo (NIO) stops reading while its output is over the high-water mark; the SMTP sink holds one
# line and counts message bytes. The client stops once a send has blocked for 2 s (or all is sent,
# or 60 s have passed),
# then keeps the connection open while the server's VmRSS is read.
cat > "$WORK/flood.py" <<'PY'
import socket, ssl, sys, time
port, cafile, mode, mib = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context(cafile=cafile)
raw = socket.create_connection(("127.0.0.1", port), timeout=10)
def reply():
    while True:
        line = b""
        while not line.endswith(b"\n"):
            b = raw.recv(1)
            if not b: sys.exit("closed during SMTP")
            line += b
        if line[3:4] != b"-": return line
if mode in ("smtp", "longline"):
    reply(); raw.sendall(b"EHLO flood\r\n"); reply(); raw.sendall(b"STARTTLS\r\n"); reply()
tls = ctx.wrap_socket(raw, server_hostname="localhost")
tls.settimeout(2)
if mode == "smtp":
    tls.sendall(b"EHLO flood\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
    chunk = (b"x" * 998 + b"\r\n") * 64
elif mode == "longline":
    tls.sendall(b"EHLO flood\r\n")
    chunk = b"x" * 65536
else:
    chunk = b"x" * 65536
sent, stalled, start = 0, False, time.monotonic()
try:
    while sent < mib * 1048576 and time.monotonic() - start < 60:
        tls.sendall(chunk)
        sent += len(chunk)
except (socket.timeout, TimeoutError):
    stalled = True
except OSError as e:
    print("closed by server after %d: %s" % (sent, e), flush=True)
    sys.exit(0)
print("sent %d %s" % (sent, "stalled" if stalled else "done"), flush=True)
time.sleep(120)
PY
rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status"; }
for B in $BACKENDS; do
    for mode in echo smtp longline; do
        if [ $mode = echo ]; then start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --mode echo
        else start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --starttls smtp; fi || { fail "[$B] serve for the $mode flood starts"; continue; }
        before=$(rss_kib "$SERVE_PID")
        python3 "$WORK/flood.py" "$PORT" "$WORK/ecdsa-ca.pem" "$mode" 400 > "$WORK/flood.out" 2>&1 &
        FLOOD=$!; PIDS+=($FLOOD)
        for _ in $(seq 1 1500); do grep -q "^sent \|^closed" "$WORK/flood.out" && break; kill -0 $FLOOD 2>/dev/null || break; sleep 0.1; done
        after=$(rss_kib "$SERVE_PID")
        kill $FLOOD 2>/dev/null; wait $FLOOD 2>/dev/null
        growth=$(( (${after:-0} - ${before:-0}) / 1024 ))
        result="$(head -1 "$WORK/flood.out"); server RSS ${before:-?} → ${after:-?} KiB (+$growth MiB)"
        echo "    [$B] $mode flood: $result"
        # A line that never ends must end the SMTP session (500, close_notify), not just stall it.
        expect="^sent \|^closed"; [ $mode = longline ] && expect="^closed"
        if [ -n "$before" ] && [ -n "$after" ] && [ $growth -lt 64 ] && grep -q "$expect" "$WORK/flood.out"; then
            ok "[$B] serve ($mode): a client sending 400 MiB without reading grows the server by under 64 MiB"
        else fail "[$B] serve ($mode): a client sending 400 MiB without reading grows the server by under 64 MiB" "$result" "$(tail -2 "$WORK/serve.err")"; fi
        stop_serve
    done
done

# --- --max-connections refuses extras at once and goes on serving; --idle-timeout closes idle ones ---
cat > "$WORK/limits.py" <<'PY'
import socket, ssl, sys, time
port, cafile, what = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
def tls():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname="localhost")
    s.sendall(b"hi"); assert s.recv(2) == b"hi"
    return s
if what == "max":
    held = [tls(), tls()]
    extra = socket.create_connection(("127.0.0.1", port), timeout=5)
    started = time.monotonic()
    try:
        refused = extra.recv(1) == b""
    except ConnectionResetError:
        refused = True
    print("extra refused" if refused and time.monotonic() - started < 2 else "extra NOT refused")
    held.pop().close(); time.sleep(0.3)
    tls(); print("served after a slot freed")
else:
    s = tls(); started = time.monotonic()
    try:
        end = s.recv(1) == b""
    except (ssl.SSLError, OSError):
        end = False
    print("closed cleanly after %.1f s" % (time.monotonic() - started) if end else "not closed cleanly")
PY
for B in $BACKENDS; do
    start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --max-connections 2 || { fail "[$B] serve --max-connections starts"; continue; }
    out=$(timeout 20 python3 "$WORK/limits.py" "$PORT" "$WORK/ecdsa-ca.pem" max 2>&1)
    if echo "$out" | grep -q "^extra refused" && echo "$out" | grep -q "^served after" && grep -q "max-connections 2 reached" "$WORK/serve.err"; then
        ok "[$B] serve --max-connections 2: the third connection is closed at once with one log line, and serving goes on"
    else fail "[$B] serve --max-connections 2 refuses the third connection cleanly" "$out" "$(tail -2 "$WORK/serve.err")"; fi
    stop_serve
    start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --idle-timeout 1 || { fail "[$B] serve --idle-timeout starts"; continue; }
    out=$(timeout 20 python3 "$WORK/limits.py" "$PORT" "$WORK/ecdsa-ca.pem" idle 2>&1)
    if echo "$out" | grep -q "^closed cleanly after [12]\."; then ok "[$B] serve --idle-timeout 1 closes an idle connection with close_notify: $out"
    else fail "[$B] serve --idle-timeout 1 closes an idle connection with close_notify" "$out"; fi
    stop_serve
done

# --- 10,000 idle TLS connections held, the 10,001st refused, serving goes on (issue 10) -----------
# Needs 10,100 descriptors on each side (ulimit -n); the figures are printed for the record.
cat > "$WORK/hold.py" <<'PY'
import resource, socket, ssl, sys, time
port, cafile, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
ctx = ssl.create_default_context(cafile=cafile)
def tls():
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10), server_hostname="localhost")
held, started = [], time.monotonic()
for i in range(count):
    held.append(tls())
print("held %d in %.1f s" % (len(held), time.monotonic() - started), flush=True)
extra = socket.create_connection(("127.0.0.1", port), timeout=5)
try:
    refused = extra.recv(1) == b""
except ConnectionResetError:
    refused = True
print("extra refused" if refused else "extra NOT refused", flush=True)
held.pop().close(); time.sleep(0.5)
s = tls(); s.sendall(b"ping"); print("served after a slot freed" if s.recv(4) == b"ping" else "NOT served", flush=True)
sys.stdin.readline()  # hold everything until the test has measured
PY
if [ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -ge 10100 ]; then
    ulimit -n "$(ulimit -Hn)"
    for B in $BACKENDS; do
        start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --max-connections 10000 || { fail "[$B] serve for 10,000 connections starts"; continue; }
        before=$(rss_kib "$SERVE_PID"); fds_before=$(ls "/proc/$SERVE_PID/fd" | wc -l)
        mkfifo "$WORK/hold.in"
        timeout 300 python3 "$WORK/hold.py" "$PORT" "$WORK/ecdsa-ca.pem" 10000 < "$WORK/hold.in" > "$WORK/hold.out" 2>&1 &
        HOLD=$!; PIDS+=($HOLD); exec 7> "$WORK/hold.in"
        for _ in $(seq 1 2400); do grep -q "^served\|^NOT\|Error" "$WORK/hold.out" && break; kill -0 $HOLD 2>/dev/null || break; sleep 0.1; done
        after=$(rss_kib "$SERVE_PID"); fds=$(ls "/proc/$SERVE_PID/fd" | wc -l)
        exec 7>&-; wait $HOLD 2>/dev/null; rm -f "$WORK/hold.in"
        summary="$(tr '\n' ';' < "$WORK/hold.out") server descriptors $fds_before → $fds, RSS ${before:-?} → ${after:-?} KiB"
        echo "    [$B] $summary"
        if grep -q "^held 10000" "$WORK/hold.out" && grep -q "^extra refused" "$WORK/hold.out" && grep -q "^served after" "$WORK/hold.out" \
            && [ "$fds" -ge 10000 ] && grep -q "max-connections 10000 reached" "$WORK/serve.err"; then
            ok "[$B] serve holds 10,000 idle TLS connections, refuses the 10,001st cleanly and goes on serving"
        else fail "[$B] serve holds 10,000 idle TLS connections and refuses the 10,001st" "$summary" "$(tail -2 "$WORK/serve.err")"; fi
        stop_serve
    done
else
    fail "10,000 idle connections: ulimit -Hn is $(ulimit -Hn), needs 10,100"
fi

# --- out of descriptors: the STARTTLS accept loop backs off instead of spinning (issue 10) -------
# The server runs with 32 descriptors; 60 idle TCP clients exhaust them. A loop that retries at
# once burns a core and floods stderr; backing off (up to 1 s) uses almost no CPU meanwhile.
cat > "$WORK/exhaust.py" <<'PY'
import socket, sys, time
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) for _ in range(60)]
print("connected", flush=True)
time.sleep(30)
PY
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for B in $BACKENDS; do
    (ulimit -n 32; exec "$TLSKIT" serve --listen 127.0.0.1:0 --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --starttls smtp) \
        > "$WORK/serve.out" 2> "$WORK/serve.err" &
    SERVE_PID=$!; PIDS+=($SERVE_PID); PORT=""
    for _ in $(seq 1 200); do PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/serve.out"); [ -n "$PORT" ] && break; sleep 0.05; done
    [ -n "$PORT" ] || { fail "[$B] serve with 32 descriptors starts" "$(tail -2 "$WORK/serve.err")"; stop_serve; continue; }
    timeout 60 python3 "$WORK/exhaust.py" "$PORT" > "$WORK/exhaust.out" 2>&1 &
    EX=$!; PIDS+=($EX)
    for _ in $(seq 1 100); do grep -q connected "$WORK/exhaust.out" && break; sleep 0.05; done
    # Measure only once the server has met the limit (its first accept failure is logged).
    for _ in $(seq 1 200); do grep -q "Too many open files\|retrying" "$WORK/serve.err" && break; sleep 0.05; done
    t0=$(cpu_ticks "$SERVE_PID"); sleep 3; t1=$(cpu_ticks "$SERVE_PID")
    lines=$(grep -c "accept failed" "$WORK/serve.err")
    kill $EX 2>/dev/null; wait $EX 2>/dev/null
    # 3 s is 300 ticks at 100 Hz: a spinning loop uses most of them.
    if [ $((t1 - t0)) -lt 30 ] && [ "$lines" -lt 100 ] && grep -q "Too many open files\|retrying" "$WORK/serve.err"; then
        ok "[$B] serve --starttls smtp out of descriptors backs off: $((t1 - t0)) CPU ticks in 3 s, $lines accept-failure lines"
    else fail "[$B] serve --starttls smtp out of descriptors backs off" "$((t1 - t0)) CPU ticks in 3 s, $lines accept-failure lines" "$(tail -1 "$WORK/serve.err")"; fi
    stop_serve
done
