# Part of IntegrationTests/cli.sh (sourced; uses its helpers and variables): OCSP stapling with
# `tlskit serve --ocsp-response` and `tlskit connect --status`, against openssl s_client -status,
# gnutls-cli --ocsp and openssl s_server -status_file (issue 13). The responses come from
# `openssl ocsp` acting as the ECDSA CA's responder.
ocsp_respond() { # $1 leaf name (in $WORK), $2 status V or R, $3 output
    local serial; serial=$(openssl x509 -in "$WORK/$1.pem" -noout -serial | cut -d= -f2)
    local end; end=$(date -u -d '+30 days' +%y%m%d%H%M%SZ)
    if [ "$2" = R ]; then
        printf 'R\t%s\t%s\t%s\tunknown\t/CN=localhost\n' "$end" "$(date -u -d '-1 hour' +%y%m%d%H%M%SZ)" "$serial" > "$WORK/ocsp-index.txt"
    else
        printf 'V\t%s\t\t%s\tunknown\t/CN=localhost\n' "$end" "$serial" > "$WORK/ocsp-index.txt"
    fi
    openssl ocsp -issuer "$WORK/ecdsa-ca.pem" -cert "$WORK/$1.pem" -no_nonce -reqout "$WORK/ocsp.req" 2>/dev/null
    openssl ocsp -index "$WORK/ocsp-index.txt" -rsigner "$WORK/ecdsa-ca.pem" -rkey "$WORK/ecdsa-ca.key" -CA "$WORK/ecdsa-ca.pem" \
        -reqin "$WORK/ocsp.req" -respout "$3" -ndays 1 > /dev/null 2>&1
}
ocsp_respond ecdsa V "$WORK/ocsp-good.der"
ocsp_respond ecdsa R "$WORK/ocsp-revoked.der"
[ -s "$WORK/ocsp-good.der" ] && [ -s "$WORK/ocsp-revoked.der" ] || fail "openssl ocsp makes the test responses"

for B in $BACKENDS; do
    start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --ocsp-response "$WORK/ocsp-good.der" --mode http \
        || { fail "[$B] serve --ocsp-response starts"; continue; }
    out=$(openssl s_client -connect 127.0.0.1:$PORT -servername localhost -status -CAfile "$WORK/ecdsa-ca.pem" < /dev/null 2>&1)
    echo "$out" | grep -q "OCSP Response Status: successful" && echo "$out" | grep -q "Cert Status: good" \
        && ok "[$B] serve --ocsp-response staples for openssl s_client -status" \
        || fail "[$B] serve --ocsp-response staples for openssl s_client -status" "$(echo "$out" | grep -i ocsp)"
    out=$(timeout 15 gnutls-cli --ocsp --x509cafile "$WORK/ecdsa-ca.pem" -p "$PORT" localhost < /dev/null 2>&1)
    echo "$out" | grep -q "Options: OCSP status request" && echo "$out" | grep -q "Status: The certificate is trusted" \
        && ok "[$B] serve --ocsp-response staples for gnutls-cli --ocsp" \
        || fail "[$B] serve --ocsp-response staples for gnutls-cli --ocsp" "$(echo "$out" | tail -5)"
    timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$PORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --status > "$WORK/out" 2>&1 \
        && grep -q "OCSP staple .* verified: good" "$WORK/out" && ok "[$B] connect --status accepts a good staple" \
        || fail "[$B] connect --status accepts a good staple" "$(cat "$WORK/out")"
    stop_serve

    # No staple: s_client sees none, and connect --status refuses with the reason.
    start_serve --backend $B --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --mode http || { fail "[$B] serve starts"; continue; }
    openssl s_client -connect 127.0.0.1:$PORT -servername localhost -status -CAfile "$WORK/ecdsa-ca.pem" < /dev/null 2>&1 \
        | grep -q "OCSP response: no response sent" && ok "[$B] serve without --ocsp-response staples nothing" \
        || fail "[$B] serve without --ocsp-response staples nothing"
    timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$PORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --status > /dev/null 2> "$WORK/err"
    rc=$?
    [ $rc -eq 2 ] && grep -q "stapled no OCSP response" "$WORK/err" && ok "[$B] connect --status refuses a server that staples nothing" \
        || fail "[$B] connect --status refuses a server that staples nothing" "exit $rc: $(cat "$WORK/err")"
    stop_serve

    # A revoked staple (from s_server, which staples what it is given): refused by default.
    start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key" -status_file "$WORK/ocsp-revoked.der"
    timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --json > "$WORK/out" 2>/dev/null
    rc=$?
    [ $rc -eq 2 ] && grep -q '"reason":"revoked"' "$WORK/out" && ok "[$B] connect refuses a certificate stapled as revoked (s_server -status_file)" \
        || fail "[$B] connect refuses a certificate stapled as revoked (s_server -status_file)" "exit $rc: $(cat "$WORK/out")"
    stop_s_server
    start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key" -status_file "$WORK/ocsp-good.der"
    timeout 15 "$TLSKIT" connect --backend $B 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" --status > "$WORK/out" 2>&1 \
        && ok "[$B] connect --status accepts s_server -status_file's good staple" \
        || fail "[$B] connect --status accepts s_server -status_file's good staple" "$(cat "$WORK/out")"
    stop_s_server
done

# gnutls-cli --ocsp refuses a revoked staple; tlskit's OpenSSL backend staples what it is given
# (GnuTLS's refuses a revoked response when the context is built).
start_serve --backend openssl --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --ocsp-response "$WORK/ocsp-revoked.der" --mode http \
    && { timeout 15 gnutls-cli --ocsp --x509cafile "$WORK/ecdsa-ca.pem" -p "$PORT" localhost < /dev/null 2>&1 | grep -q "revoked" \
        && ok "[openssl] gnutls-cli --ocsp refuses a revoked staple from serve" || fail "[openssl] gnutls-cli --ocsp refuses a revoked staple from serve"; stop_serve; }
if echo " $BACKENDS " | grep -q " gnutls "; then
    "$TLSKIT" serve --backend gnutls --listen 127.0.0.1:0 --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" \
        --ocsp-response "$WORK/ocsp-revoked.der" > /dev/null 2> "$WORK/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "ocspResponse" "$WORK/err" && ok "[gnutls] serve refuses to staple a revoked response, naming it" \
        || fail "[gnutls] serve refuses to staple a revoked response, naming it" "exit $rc: $(cat "$WORK/err")"
fi
