#!/usr/bin/env bash
# Record-level adversarial suite (issue 10, item 3): IntegrationTests/adversarial/adversarial.py
# runs each hostile case against `tlskit serve` with both backends and against the libraries'
# own servers, openssl s_server and gnutls-serv, in the same run, and fails when ours answers
# differently (or a server does not give the expected answer).
#
# Usage: IntegrationTests/adversarial.sh PATH/TO/tlskit [adversarial.py options, e.g. --only NAME]
# Installs tlslite-ng 0.8.0 with pip when it is missing; needs openssl and gnutls-serv.
set -u
TLSKIT=${1:?usage: adversarial.sh PATH/TO/tlskit [--only CASE ...]}
shift
HERE=$(cd "$(dirname "$0")" && pwd)
started=$(date +%s)

die() { echo "adversarial.sh: FAIL: $*"; exit 1; }
[ -x "$TLSKIT" ] || die "no tlskit binary at $TLSKIT (swift build --traits GnuTLS)"
for tool in python3 openssl gnutls-serv timeout; do
    command -v "$tool" >/dev/null || die "missing tool: $tool (apt-get install python3 openssl gnutls-bin coreutils)"
done
"$TLSKIT" backends | grep -q '^gnutls:' || die "$TLSKIT has no gnutls backend (build it with --traits GnuTLS)"

# tlslite-ng from PyPI; a Debian system Python refuses plain pip installs (PEP 668), so
# retry with --break-system-packages there.
if ! python3 -c 'import tlslite' 2>/dev/null; then
    out=$(timeout 120 python3 -m pip install --quiet tlslite-ng==0.8.0 2>&1) || {
        if echo "$out" | grep -q externally-managed-environment; then
            timeout 120 python3 -m pip install --quiet --break-system-packages tlslite-ng==0.8.0 || die "pip could not install tlslite-ng==0.8.0"
        else
            echo "$out"; die "pip could not install tlslite-ng==0.8.0 (python3 -m pip install tlslite-ng==0.8.0)"
        fi
    }
    python3 -c 'import tlslite' 2>/dev/null || die "tlslite-ng is still not importable (python3 -m pip install tlslite-ng==0.8.0)"
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- A throwaway ECDSA P-256 PKI -----------------------------------------------------------
ec() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
ec "$WORK/ca.key"
openssl req -x509 -new -key "$WORK/ca.key" -sha256 -days 2 -subj "/CN=adversarial CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" -out "$WORK/ca.pem" || die "openssl req (CA)"
leaf() { # $1 name, $2 CN, $3 extendedKeyUsage, $4 subjectAltName
    ec "$WORK/$1.key"
    openssl req -new -key "$WORK/$1.key" -subj "/CN=$2" -out "$WORK/$1.csr"
    printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' "$3" "$4" > "$WORK/$1.ext"
    openssl x509 -req -in "$WORK/$1.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
        -days 2 -sha256 -extfile "$WORK/$1.ext" -out "$WORK/$1.pem" 2>/dev/null || die "openssl x509 ($1)"
}
leaf server localhost serverAuth "DNS:localhost,IP:127.0.0.1"
leaf client client.example clientAuth "DNS:client.example"

# --- The servers ---------------------------------------------------------------------------
# Each start_* sets PORT once the server is ready (it printed its port, or accepts TCP),
# within 10 s; otherwise the run fails.
wait_for() { # $1 pid, $2 output file, $3 sed expression printing the port
    PORT=""
    for _ in $(seq 1 200); do
        PORT=$(sed -n "$3" "$2" | head -1)
        [ -n "$PORT" ] && return 0
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    echo "--- $2:"; cat "$2"; return 1
}
start_tlskit() { # $1 backend, $2 name, then extra flags
    local backend=$1 name=$2; shift 2
    "$TLSKIT" serve --backend "$backend" --listen 127.0.0.1:0 --cert "$WORK/server.pem" --key "$WORK/server.key" \
        --idle-timeout 30 "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" &
    PIDS+=($!)
    wait_for $! "$WORK/$name.out" 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' || die "tlskit serve --backend $backend did not start"
}
start_s_server() { # $1 name, then extra flags
    local name=$1; shift
    # The same versions as tlskit's system policy (TLS 1.2 and 1.3): without -min_protocol,
    # s_server takes a TLS 1.0 hello and fails later with internal_error ("no suitable
    # signature algorithm" at security level 2).
    openssl s_server -accept 127.0.0.1:0 -cert "$WORK/server.pem" -key "$WORK/server.key" -rev -min_protocol TLSv1.2 "$@" \
        < /dev/null > "$WORK/$name.out" 2>&1 &
    PIDS+=($!)
    wait_for $! "$WORK/$name.out" 's/^ACCEPT 127.0.0.1:\([0-9]*\)$/\1/p' || die "openssl s_server did not start"
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_gnutls_serv() { # $1 name, then extra flags
    local name=$1; shift
    local port
    port=$(free_port)
    # The same versions as tlskit's system policy (TLS 1.2 and 1.3); the rest is GnuTLS' NORMAL.
    gnutls-serv --port "$port" --echo --x509certfile "$WORK/server.pem" --x509keyfile "$WORK/server.key" \
        --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE" "$@" \
        < /dev/null > "$WORK/$name.out" 2>&1 &
    local pid=$!
    PIDS+=($pid)
    for _ in $(seq 1 200); do
        if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' "$port" 2>/dev/null; then
            PORT=$port; return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$WORK/$name.out"; die "gnutls-serv did not start on port $port"
}

ARGS=(--ca "$WORK/ca.pem" --client-cert "$WORK/client.pem" --client-key "$WORK/client.key")
start_tlskit openssl tlskit-openssl;            ARGS+=(--server "tlskit-openssl=$PORT")
start_tlskit gnutls tlskit-gnutls;              ARGS+=(--server "tlskit-gnutls=$PORT")
start_s_server s_server;                        ARGS+=(--server "s_server=$PORT")
start_gnutls_serv gnutls-serv --disable-client-cert; ARGS+=(--server "gnutls-serv=$PORT")
start_tlskit openssl tlskit-openssl-mtls --client-ca "$WORK/ca.pem";  ARGS+=(--mtls-server "tlskit-openssl=$PORT")
start_tlskit gnutls tlskit-gnutls-mtls --client-ca "$WORK/ca.pem";    ARGS+=(--mtls-server "tlskit-gnutls=$PORT")
start_s_server s_server-mtls -Verify 1 -verify_return_error -CAfile "$WORK/ca.pem"; ARGS+=(--mtls-server "s_server=$PORT")
start_gnutls_serv gnutls-serv-mtls --require-client-cert --verify-client-cert --x509cafile "$WORK/ca.pem"; ARGS+=(--mtls-server "gnutls-serv=$PORT")

echo "# $("$TLSKIT" backends | sed -n 's/^\([a-z0-9]*: [^ ]* [^ ]*\).*/\1/p' | paste -sd ' ') | $(openssl version) | $(gnutls-serv --version | head -1) | tlslite-ng $(python3 -c 'import tlslite; print(tlslite.__version__)')"
timeout 170 python3 "$HERE/adversarial/adversarial.py" "${ARGS[@]}" "$@"
status=$?
[ $status -eq 124 ] && echo "adversarial.sh: FAIL: the client ran over its 170 s bound"
for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || { echo "adversarial.sh: FAIL: a server (pid $p) died during the run"; status=1; }; done
echo "adversarial.sh: $(( $(date +%s) - started )) s, exit $status"
exit $status
