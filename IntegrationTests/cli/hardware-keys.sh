# Part of IntegrationTests/cli.sh (sourced; uses its helpers and variables): keys on a SoftHSM2 token and in a software TPM (providers and the ENGINE bridge).

# --- keys on a PKCS#11 token (SoftHSM2), through GnuTLS and p11-kit -----------------------
if echo " $BACKENDS " | grep -q " gnutls "; then
    export SOFTHSM2_CONF="$WORK/softhsm2.conf"
    mkdir -p "$WORK/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' "$WORK" > "$SOFTHSM2_CONF"
    MOD=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
    softhsm2-util --init-token --free --label tlskit-test --so-pin 5678 --pin 1234 > /dev/null
    pkcs11-tool --module $MOD --token-label tlskit-test --login --pin 1234 --keypairgen --key-type EC:prime256v1 --id 01 --label tls-ec > /dev/null 2>&1
    printf 'cn = "localhost"\ndns_name = "localhost"\nip_address = "127.0.0.1"\nexpiration_days = 30\ntls_www_server\ntls_www_client\nsigning_key\n' > "$WORK/cert.tmpl"
    GNUTLS_PIN=1234 certtool --generate-self-signed --load-privkey 'pkcs11:token=tlskit-test;object=tls-ec;type=private' \
        --template "$WORK/cert.tmpl" --outfile "$WORK/token-ec.pem" > /dev/null 2>&1
    openssl x509 -in "$WORK/token-ec.pem" -outform DER -out "$WORK/token-ec.der"
    pkcs11-tool --module $MOD --token-label tlskit-test --login --pin 1234 --write-object "$WORK/token-ec.der" --type cert --id 01 --label tls-ec > /dev/null 2>&1
    KEY='pkcs11:token=tlskit-test;object=tls-ec;type=private'

    for keyarg in "$KEY?pin-value=1234" "$KEY"; do
        export TOKEN_PIN=1234
        label=$([ "$keyarg" = "$KEY" ] && echo "PIN from --key-passphrase-env" || echo "PIN in the URI")
        start_serve --backend gnutls --cert "$WORK/token-ec.pem" --key "$keyarg" --key-passphrase-env TOKEN_PIN --mode http \
            || { fail "[gnutls] serve with a token key ($label) starts"; continue; }
        for v in 1.2 1.3; do
            out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:$PORT -servername localhost \
                -CAfile "$WORK/token-ec.pem" -verify_return_error -tls1_${v#1.} -ign_eof 2>&1)
            if echo "$out" | grep -q "Protocol: TLSv$v" && echo "$out" | grep -q "Verify return code: 0 (ok)"; then
                ok "[gnutls] server key on a PKCS#11 token ($label), s_client TLS $v"
            else
                fail "[gnutls] server key on a PKCS#11 token ($label), s_client TLS $v" "$(echo "$out" | tail -3) $(cat "$WORK/serve.err")"
            fi
        done
        stop_serve
    done

    start_serve --backend gnutls --cert 'pkcs11:token=tlskit-test;object=tls-ec;type=cert' --key "$KEY?pin-value=1234" --mode http \
        || fail "[gnutls] serve with certificate and key on the token starts"
    out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:$PORT -CAfile "$WORK/token-ec.pem" -verify_return_error -ign_eof 2>&1)
    if echo "$out" | grep -q "Verify return code: 0 (ok)"; then ok "[gnutls] certificate and key both by pkcs11: URI"; else fail "[gnutls] certificate and key both by pkcs11: URI" "$(echo "$out" | tail -3)"; fi
    stop_serve

    start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key" -Verify 1 -CAfile "$WORK/token-ec.pem" -verify_return_error
    timeout 15 "$TLSKIT" connect --backend gnutls 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" \
        --cert "$WORK/token-ec.pem" --key "$KEY?pin-value=1234" --send 'GET / HTTP/1.0\r\n\r\n' > "$WORK/out" 2> "$WORK/err"
    status=$?
    if [ $status -eq 0 ] && grep -q "CN=localhost" "$WORK/out"; then
        ok "[gnutls] client key on a PKCS#11 token (mutual TLS) -> s_server"
    else
        fail "[gnutls] client key on a PKCS#11 token (mutual TLS) -> s_server" "exit $status: $(cat "$WORK/err") $(tail -3 "$WORK/out")"
    fi
    stop_s_server

    timeout 15 "$TLSKIT" serve --backend gnutls --listen 127.0.0.1:0 --cert "$WORK/token-ec.pem" --key "$KEY?pin-value=9999" > /dev/null 2> "$WORK/err"
    status=$?
    if [ $status -eq 1 ] && grep -q "PIN" "$WORK/err" && ! grep -q "9999" "$WORK/err"; then
        ok "[gnutls] wrong PIN: exit 1, says so, never prints the PIN"
    else
        fail "[gnutls] wrong PIN: exit 1, says so, never prints the PIN" "exit $status: $(cat "$WORK/err")"
    fi

    printf -- '-----BEGIN TSS2 PRIVATE KEY-----\nMIIB\n-----END TSS2 PRIVATE KEY-----\n' > "$WORK/key.tss2.pem"
    timeout 15 "$TLSKIT" serve --backend gnutls --listen 127.0.0.1:0 --cert "$WORK/token-ec.pem" --key "$WORK/key.tss2.pem" > /dev/null 2> "$WORK/err"
    status=$?
    if [ $status -eq 1 ] && grep -q "unsupportedFeature" "$WORK/err" && grep -q "tpm2-pkcs11" "$WORK/err"; then
        ok "[gnutls] TSS2 key file: unsupportedFeature with the tpm2-pkcs11 route"
    else
        fail "[gnutls] TSS2 key file: unsupportedFeature with the tpm2-pkcs11 route" "exit $status: $(cat "$WORK/err")"
    fi
    unset SOFTHSM2_CONF TOKEN_PIN
fi

# --- keys in a software TPM and on a token through OpenSSL: providers and the ENGINE bridge -
if "$(dirname "$0")/../scripts/hwkeys" start "$WORK/hw" "$WORK/ecdsa-ca.pem" "$WORK/ecdsa-ca.key" 2> "$WORK/hwkeys.err"; then
    source "$WORK/hw/hwkeys.env"
    unset TPM2OPENSSL_TCTI
    TPM=(--provider default --provider tpm2 --propquery '?tpm2.signature' --tcti "$TPM_TCTI")
    # tpm2-abrmd (--flush-all) frees what a killed process left loaded in the TPM.
    tpm_flush() { :; }
    for spec in "handle:0x81000001|$TPM_EC_CERT|EC handle" "handle:0x81000002|$TPM_RSA_CERT|RSA handle" "$TPM_TSS2_KEY|$TPM_TSS2_CERT|TSS2 key file"; do
        IFS='|' read -r key cert label <<< "$spec"
        start_serve "${TPM[@]}" --cert "$cert" --key "$key" --mode http 2>/dev/null || { fail "[openssl] serve with a TPM key ($label) starts" "$(cat "$WORK/serve.err")"; continue; }
        for v in 1.2 1.3; do
            out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:$PORT -servername localhost \
                -CAfile "$WORK/ecdsa-ca.pem" -verify_return_error -tls1_${v#1.} -ign_eof 2>&1)
            if echo "$out" | grep -q "Protocol: TLSv$v" && echo "$out" | grep -q "Verify return code: 0 (ok)"; then
                ok "[openssl] server key in the TPM ($label), s_client TLS $v"
            else
                fail "[openssl] server key in the TPM ($label), s_client TLS $v" "$(echo "$out" | tail -3) $(grep -v tcti "$WORK/serve.err")"
            fi
        done
        stop_serve
        tpm_flush
    done

    # mTLS: the client key in the TPM, against s_server and against tlskit serve.
    start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key" -Verify 1 -CAfile "$WORK/ecdsa-ca.pem" -verify_return_error
    timeout 15 "$TLSKIT" connect "${TPM[@]}" 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" \
        --cert "$TPM_EC_CERT" --key handle:0x81000001 --send 'GET / HTTP/1.0\r\n\r\n' > "$WORK/out" 2> "$WORK/err"
    status=$?
    if [ $status -eq 0 ] && grep -q "CN=localhost" "$WORK/out"; then ok "[openssl] client key in the TPM (mutual TLS) -> s_server"
    else fail "[openssl] client key in the TPM (mutual TLS) -> s_server" "exit $status: $(grep -v tcti "$WORK/err")"; fi
    stop_s_server
    tpm_flush

    start_serve --cert "$WORK/ecdsa.pem" --key "$WORK/ecdsa.key" --client-ca "$WORK/ecdsa-ca.pem" || fail "[openssl] mTLS serve starts"
    for v in 1.2 1.3; do
        out=$(timeout 15 "$TLSKIT" connect "${TPM[@]}" 127.0.0.1:$PORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" \
            --cert "$TPM_RSA_CERT" --key handle:0x81000002 --max-version $v --min-version $v --send 'tpm says hi\n' 2>&1)
        if echo "$out" | grep -q "tpm says hi" && echo "$out" | grep -q "TLSv$v"; then ok "[openssl] TPM-held client key -> tlskit serve (mutual TLS), TLS $v"
        else fail "[openssl] TPM-held client key -> tlskit serve (mutual TLS), TLS $v" "$(echo "$out" | grep -v tcti | tail -3)"; fi
    done
    stop_serve
    tpm_flush

    timeout 15 "$TLSKIT" serve --listen 127.0.0.1:0 --cert "$TPM_TSS2_CERT" --key "$TPM_TSS2_KEY" > /dev/null 2> "$WORK/err"
    status=$?
    if [ $status -eq 1 ] && grep -q "only the 'tpm2' provider" "$WORK/err" && grep -q -- "--provider tpm2" "$WORK/err"; then
        ok "[openssl] TSS2 key without the tpm2 provider: exit 1, says which provider to load"
    else
        fail "[openssl] TSS2 key without the tpm2 provider: exit 1, says which provider to load" "exit $status: $(cat "$WORK/err")"
    fi
    timeout 15 "$TLSKIT" serve --listen 127.0.0.1:0 --provider default --provider tpm2 --tcti "swtpm:host=127.0.0.1,port=9" \
        --cert "$TPM_EC_CERT" --key handle:0x81000001 > /dev/null 2> "$WORK/err"
    status=$?
    if [ $status -eq 1 ] && grep -q "TCTI" "$WORK/err"; then ok "[openssl] unreachable TPM: exit 1, names the TCTI"
    else fail "[openssl] unreachable TPM: exit 1, names the TCTI" "exit $status: $(grep -v tcti "$WORK/err")"; fi

    # The libp11 ENGINE bridge: a key on the SoftHSM2 token, used by OpenSSL.
    E=(--engine pkcs11 --pkcs11-module "$PKCS11_MODULE")
    export TOKEN_PIN=1234
    for keyarg in "$TOKEN_KEY?pin-value=1234" "$TOKEN_KEY"; do
        label=$([ "$keyarg" = "$TOKEN_KEY" ] && echo "PIN from --key-passphrase-env" || echo "PIN in the URI")
        start_serve "${E[@]}" --cert "$TOKEN_CERT" --key "$keyarg" --key-passphrase-env TOKEN_PIN --mode http \
            || { fail "[openssl] serve with a token key via the ENGINE ($label) starts" "$(cat "$WORK/serve.err")"; continue; }
        for v in 1.2 1.3; do
            out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:$PORT -servername localhost \
                -CAfile "$WORK/ecdsa-ca.pem" -verify_return_error -tls1_${v#1.} -ign_eof 2>&1)
            if echo "$out" | grep -q "Protocol: TLSv$v" && echo "$out" | grep -q "Verify return code: 0 (ok)"; then
                ok "[openssl] server key on a PKCS#11 token via the ENGINE ($label), s_client TLS $v"
            else
                fail "[openssl] server key on a PKCS#11 token via the ENGINE ($label), s_client TLS $v" "$(echo "$out" | tail -3) $(cat "$WORK/serve.err")"
            fi
        done
        stop_serve
    done
    start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key" -Verify 1 -CAfile "$WORK/ecdsa-ca.pem" -verify_return_error
    timeout 15 "$TLSKIT" connect "${E[@]}" 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" \
        --cert "$TOKEN_CERT" --key "$TOKEN_KEY?pin-value=1234" --send 'GET / HTTP/1.0\r\n\r\n' > "$WORK/out" 2> "$WORK/err"
    status=$?
    if [ $status -eq 0 ] && grep -q "CN=localhost" "$WORK/out"; then ok "[openssl] client key on a token via the ENGINE (mutual TLS) -> s_server"
    else fail "[openssl] client key on a token via the ENGINE (mutual TLS) -> s_server" "exit $status: $(cat "$WORK/err")"; fi
    stop_s_server
    # pkcs11-provider: the same token through OpenSSL 3's store, no ENGINE. The module comes
    # from PKCS11_PROVIDER_MODULE (the tool's --provider takes no settings).
    if dpkg -s pkcs11-provider > /dev/null 2>&1; then
        export PKCS11_PROVIDER_MODULE="$PKCS11_MODULE"
        PV=(--provider default --provider pkcs11)
        for keyarg in "$TOKEN_KEY?pin-value=1234" "$TOKEN_KEY"; do
            label=$([ "$keyarg" = "$TOKEN_KEY" ] && echo "PIN from --key-passphrase-env" || echo "PIN in the URI")
            start_serve "${PV[@]}" --cert "$TOKEN_CERT_URI" --key "$keyarg" --key-passphrase-env TOKEN_PIN --mode http \
                || { fail "[openssl] serve with a token key via pkcs11-provider ($label) starts" "$(cat "$WORK/serve.err")"; continue; }
            for v in 1.2 1.3; do
                out=$(printf 'GET / HTTP/1.0\r\n\r\n' | timeout 10 openssl s_client -connect 127.0.0.1:$PORT -servername localhost \
                    -CAfile "$WORK/ecdsa-ca.pem" -verify_return_error -tls1_${v#1.} -ign_eof 2>&1)
                if echo "$out" | grep -q "Protocol: TLSv$v" && echo "$out" | grep -q "Verify return code: 0 (ok)"; then
                    ok "[openssl] certificate and key on a PKCS#11 token via pkcs11-provider ($label), s_client TLS $v"
                else
                    fail "[openssl] certificate and key on a PKCS#11 token via pkcs11-provider ($label), s_client TLS $v" "$(echo "$out" | tail -3) $(cat "$WORK/serve.err")"
                fi
            done
            stop_serve
        done
        start_s_server -cert "$WORK/ecdsa.pem" -key "$WORK/ecdsa.key" -Verify 1 -CAfile "$WORK/ecdsa-ca.pem" -verify_return_error
        timeout 15 "$TLSKIT" connect "${PV[@]}" 127.0.0.1:$SPORT --server-name localhost --ca "$WORK/ecdsa-ca.pem" \
            --cert "$TOKEN_CERT" --key "$TOKEN_KEY?pin-value=1234" --send 'GET / HTTP/1.0\r\n\r\n' > "$WORK/out" 2> "$WORK/err"
        status=$?
        if [ $status -eq 0 ] && grep -q "CN=localhost" "$WORK/out"; then ok "[openssl] client key on a token via pkcs11-provider (mutual TLS) -> s_server"
        else fail "[openssl] client key on a token via pkcs11-provider (mutual TLS) -> s_server" "exit $status: $(cat "$WORK/err")"; fi
        stop_s_server
        timeout 15 "$TLSKIT" serve "${PV[@]}" --listen 127.0.0.1:0 --cert "$TOKEN_CERT" --key "$TOKEN_KEY?pin-value=9999" > /dev/null 2> "$WORK/err"
        status=$?
        if [ $status -eq 1 ] && grep -q "PIN" "$WORK/err" && ! grep -q "9999" "$WORK/err"; then ok "[openssl] wrong PIN via pkcs11-provider: exit 1, names the PIN as a cause, never prints it"
        else fail "[openssl] wrong PIN via pkcs11-provider: exit 1, names the PIN as a cause, never prints it" "exit $status: $(cat "$WORK/err")"; fi
        unset PKCS11_PROVIDER_MODULE
    else
        fail "[openssl] pkcs11-provider is installed (scripts/test installs it from bookworm-backports)"
    fi
    # tlskit keys list: what a store offers, with the URIs to use.
    if echo " $BACKENDS " | grep -q " gnutls "; then
        TOKEN_PIN=1234 timeout 15 "$TLSKIT" keys list --backend gnutls 'pkcs11:token=tlskit-test' --pin-env TOKEN_PIN > "$WORK/out" 2> "$WORK/err"
        if grep -q "^privateKey.*object=tls-ec;type=private" "$WORK/out" && grep -q "^certificate.*type=cert" "$WORK/out" && ! grep -q "1234" "$WORK/out"; then
            ok "[gnutls] keys list shows the token's key and certificate URIs (with the PIN, never printing it)"
        else
            fail "[gnutls] keys list shows the token's key and certificate URIs" "$(cat "$WORK/out" "$WORK/err")"
        fi
    fi
    timeout 15 "$TLSKIT" keys list "${TPM[@]}" handle:0x81000001 > "$WORK/out" 2> "$WORK/err"
    if grep -q "^privateKey.handle:0x81000001" "$WORK/out"; then ok "[openssl] keys list through the tpm2 provider's store"
    else fail "[openssl] keys list through the tpm2 provider's store" "$(cat "$WORK/out") $(grep -v tcti "$WORK/err")"; fi
    timeout 15 "$TLSKIT" keys list 'pkcs11:token=tlskit-test' > /dev/null 2> "$WORK/err"
    status=$?
    if [ $status -eq 1 ] && grep -q "backend gnutls" "$WORK/err"; then ok "[openssl] keys list of a token without a pkcs11 provider: exit 1, names the way"
    else fail "[openssl] keys list of a token without a pkcs11 provider: exit 1, names the way" "exit $status: $(cat "$WORK/err")"; fi

    timeout 15 "$TLSKIT" serve "${E[@]}" --listen 127.0.0.1:0 --cert "$TOKEN_CERT" --key "$TOKEN_KEY?pin-value=9999" > /dev/null 2> "$WORK/err"
    status=$?
    if [ $status -eq 1 ] && grep -q "PIN" "$WORK/err" && ! grep -q "9999" "$WORK/err"; then ok "[openssl] wrong PIN via the ENGINE: exit 1, says so, never prints the PIN"
    else fail "[openssl] wrong PIN via the ENGINE: exit 1, says so, never prints the PIN" "exit $status: $(cat "$WORK/err")"; fi
    unset SOFTHSM2_CONF TOKEN_PIN
else
    fail "scripts/hwkeys sets up the software TPM and the SoftHSM2 token" "$(tail -5 "$WORK/hwkeys.err")"
fi

timeout 15 "$TLSKIT" serve --backend openssl --listen 127.0.0.1:0 --cert "$WORK/ecdsa.pem" --key 'pkcs11:token=x;object=y;type=private' > /dev/null 2> "$WORK/err"
status=$?
if [ $status -eq 1 ] && grep -q "pkcs11" "$WORK/err" && grep -q "provider" "$WORK/err"; then
    ok "[openssl] pkcs11: URI without a pkcs11 provider: exit 1, names the provider to load"
else
    fail "[openssl] pkcs11: URI without a pkcs11 provider: exit 1, names the provider to load" "exit $status: $(cat "$WORK/err")"
fi
