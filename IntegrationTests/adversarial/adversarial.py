#!/usr/bin/env python3
"""Record-level adversarial client for `tlskit serve` (issue 10, item 3).

Each case misbehaves in one way (a tampered record, an illegal message, an odd but legal
ClientHello, a broken client certificate) and records what the server did about it. Every
case runs against four servers in the same run: `tlskit serve --backend openssl` next to
`openssl s_server`, `tlskit serve --backend gnutls` next to `gnutls-serv`. A case fails
when ours answers differently from the library's own server (unless the difference is listed
in KNOWN_DIFFERENCES, which docs/BackendDifferences.md explains), or when any server's
answer is not the one the case expects.

Outcomes (one string per case and server):
  handshake TLSv1.x   the handshake completed and application data went both ways
  alert NAME          the server sent a fatal alert NAME (and closed)
  eof                 the server closed the connection without an alert
  reset               the connection was reset without an alert
  ignored             no reaction; the connection still echoes application data
  timeout             no answer at all within the case's time-out
  client-error TEXT   this client failed locally (never expected)

Usage: adversarial.py --ca CA --client-cert CERT --client-key KEY
                      --server NAME=PORT ... --mtls-server NAME=PORT ...
  NAME is one of tlskit-openssl, s_server, tlskit-gnutls, gnutls-serv; --server ports do not
  ask for client certificates, --mtls-server ports require one from CA.
  --only SUBSTRING runs the matching cases; --expect CASE=OUTCOME overrides an expectation
  (to see a case fail on purpose).
"""
import argparse
import os
import select
import signal
import socket
import struct
import sys
import time

# plumbing imports tlslite-ng, or says how to install it and exits.
from settings import *  # noqa: E402,F401,F403 (HOST, PAIRS, SERVERS, FAMILY, timeouts, PING)
from plumbing import *  # noqa: E402,F401,F403 (tlslite-ng names, RecordTap, HookedConnection, Raw, Peer, ...)

from cases import *  # noqa: E402,F401,F403 (the case functions)
import cases as case_module  # noqa: E402 (case_module.CURRENT: the running case's peer)

ALERT = lambda name: {"alert " + name}  # noqa: E731


def per_library(openssl, gnutls):
    """Different answers from the two libraries: alert names, or "eof"/"ignored"."""
    def outcomes(answer):
        return {answer} if answer in ("eof", "ignored") else ALERT(answer)
    return {"openssl": outcomes(openssl), "gnutls": outcomes(gnutls)}


def lost_by_gnutls_serv(alert):
    """gnutls-serv closes its socket with the rest of the client's flight unread, so the
    kernel resets the connection and the alert may be lost (see KNOWN_DIFFERENCES)."""
    return {"openssl": ALERT(alert), "tlskit-gnutls": ALERT(alert), "gnutls-serv": ALERT(alert) | {"reset"}}

CASES = []


def case(name, run, expected, mtls=False):
    CASES.append((name, run, expected, mtls))


for v in ("1.2", "1.3"):
    case("baseline-%s" % v, case_handshake(v), {"handshake TLSv%s" % v})
    case("tampered-tag-%s" % v, case_tamper(v, -1), ALERT("bad_record_mac"))
    # 1.2 GCM: the explicit nonce is bytes 0-7 of the body; byte 8 is ciphertext. 1.3: byte 0.
    case("tampered-ciphertext-%s" % v, case_tamper(v, 8 if v == "1.2" else 0), ALERT("bad_record_mac"))
    case("tampered-nonce-%s" % v, case_tamper(v, 0), ALERT("bad_record_mac")) if v == "1.2" else None
    # 1.3: a cleartext CCS record after the handshake; 1.2: an encrypted one (a second CCS)
    case("ccs-after-finished-%s" % v, case_record(v, ContentType.change_cipher_spec, b"\x01", encrypted=(v == "1.2")),
         ALERT("unexpected_message"))
    case("heartbeat-request-%s" % v, case_record(v, 24, b"\x01\x00\x10" + b"H" * 16 + b"\x00" * 16),
         ALERT("unexpected_message"))
    # RFC 8446 5.1: zero-length handshake/alert fragments are unexpected_message; TLS 1.2
    # (RFC 5246 6.2.1) only says they must not be sent, and the libraries tolerate some.
    case("zero-length-handshake-record-%s" % v, case_record(v, ContentType.handshake, b""),
         ALERT("unexpected_message") if v == "1.3" else {"ignored"})
    case("zero-length-alert-record-%s" % v, case_record(v, ContentType.alert, b""),
         ALERT("unexpected_message") if v == "1.3" else per_library("unexpected_message", "ignored"))
    case("zero-length-appdata-record-%s" % v, case_record(v, ContentType.application_data, b""), {"ignored"})
    case("unknown-content-type-%s" % v, case_record(v, 0x63, b"hello"), ALERT("unexpected_message"))
    case("overflow-plaintext-%s" % v, case_overflow_plaintext(v, (1 << 14) + 1), ALERT("record_overflow"))
    case("overflow-ciphertext-%s" % v,
         case_overflow_ciphertext(v, (1 << 14) + (256 if v == "1.3" else 2048) + 1), ALERT("record_overflow"))
    case("many-suites-%s" % v, case_big_hello(v, suites=5000), {"handshake TLSv%s" % v})
    case("many-extensions-%s" % v, case_big_hello(v, extensions=300), {"handshake TLSv%s" % v})
    case("hello-64k-in-records-of-4k-%s" % v, case_big_hello(v, record_size=4096, pad_to=65000), {"handshake TLSv%s" % v})
    case("hello-in-records-of-64-bytes-%s" % v, case_big_hello(v, record_size=64), {"handshake TLSv%s" % v})
    client_cases = {
        "good": {"handshake TLSv%s" % v},
        # no certificate to a server that requires one
        "none": ALERT("certificate_required") if v == "1.3" else per_library("handshake_failure", "decode_error"),
        "cert-bad-length": lost_by_gnutls_serv("decode_error") if v == "1.3" else ALERT("decode_error"),
        "cert-bad-entry-length": lost_by_gnutls_serv("decode_error") if v == "1.3" else ALERT("decode_error"),
        # well framed, but not a certificate
        "cert-garbage": per_library("decode_error", "bad_certificate"),
        "cert-trailing": lost_by_gnutls_serv("decode_error") if v == "1.3" else ALERT("decode_error"),
        # rsa_pss_rsae_sha256 claimed for an ECDSA signature
        "cv-wrong-scheme": ALERT("illegal_parameter"),
        # ecdsa_sha1: not offered in the CertificateRequest
        "cv-unoffered-scheme": ALERT("illegal_parameter") if v == "1.3" else per_library("handshake_failure", "decrypt_error"),
        "cv-bad-signature": ALERT("decrypt_error"),
    }
    for kind, expected in client_cases.items():
        case("client-%s-%s" % (kind, v), case_client_cert(v, kind), expected, mtls=True)

case("keyupdate-request-2-1.3", case_keyupdate(b"\x02"), ALERT("illegal_parameter"))
# OpenSSL checks the message size against KeyUpdate's maximum first (illegal_parameter)
case("keyupdate-length-2-1.3", case_keyupdate(b"\x00\x00"), per_library("illegal_parameter", "decode_error"))
case("keyupdate-length-0-1.3", case_keyupdate(b""), ALERT("decode_error"))
case("unknown-content-type-first-record", case_first_record(b"\x63\x03\x03\x00\x05hello"), ALERT("unexpected_message"))
case("overflow-first-record", case_first_record(b"\x16\x03\x01\x40\x01" + b"\x01" + b"\x00" * 16384),
     ALERT("record_overflow"))
case("legacy-0x03ff-record-0x03ff-1.2", case_versions((3, 255), (3, 255), False), {"handshake TLSv1.2"})
# A record-layer major version other than 3: OpenSSL takes the bytes for something other than
# TLS and closes without an alert (as for an HTTP request); GnuTLS answers protocol_version.
case("legacy-0x7f7f-record-0x7f7f-1.2", case_versions((0x7f, 0x7f), (0x7f, 0x7f), False),
     per_library("eof", "protocol_version"))
case("legacy-0x03ff-record-0x0301-1.2", case_versions((3, 255), (3, 1), False), {"handshake TLSv1.2"})
case("legacy-0x7f7f-record-0x0301-1.2", case_versions((0x7f, 0x7f), (3, 1), False), {"handshake TLSv1.2"})
case("legacy-0x03ff-with-supported-versions", case_versions((3, 255), (3, 1), True), {"handshake TLSv1.3"})
case("legacy-0x7f7f-with-supported-versions", case_versions((0x7f, 0x7f), (3, 1), True), {"handshake TLSv1.3"})
case("record-version-0x7f7f-with-supported-versions", case_versions((3, 3), (0x7f, 0x7f), True),
     per_library("eof", "protocol_version"))
case("tls1.0-only", case_old_version("1.0"), ALERT("protocol_version"))
case("tls1.1-only", case_old_version("1.1"), ALERT("protocol_version"))
case("tampered-padding-cbc-1.2", case_tamper_padding, ALERT("bad_record_mac"))

# Differences between ours and the library's own server that docs/BackendDifferences.md
# ("Hostile peers: where tlskit serve differs from s_server / gnutls-serv") explains:
# (case, ours) -> (our outcome, the library server's outcomes). Any other difference fails.
KNOWN_DIFFERENCES = {
    # gnutls-serv fails on the Certificate and closes with the client's CertificateVerify and
    # Finished unread (or still arriving): the kernel resets the connection and the client
    # loses the alert. TLSChannelHandler lingers after its alert, as s_server does.
    ("client-%s-1.3" % kind, "tlskit-gnutls"): ("alert decode_error", {"reset"})
    for kind in ("cert-bad-length", "cert-bad-entry-length", "cert-trailing")
}


# --- Running everything -----------------------------------------------------------------------

class Env:
    pass


def run_case(run, port, env):
    peer = None

    def on_alarm(signum, frame):
        raise Outcome("timeout")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(CASE_TIMEOUT)
    try:
        peer = Peer(port, env)
        case_module.CURRENT = peer
        return run(peer)
    except Outcome as outcome:
        return str(outcome)
    except Exception as error:  # a bug in this client, or a tlslite limitation: visible, never a pass
        return "client-error %s: %s" % (type(error).__name__, error)
    finally:
        signal.alarm(0)
        if peer:
            peer.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ca", required=True)
    parser.add_argument("--client-cert", required=True)
    parser.add_argument("--client-key", required=True)
    parser.add_argument("--server", action="append", default=[])
    parser.add_argument("--mtls-server", action="append", default=[])
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--expect", action="append", default=[])
    args = parser.parse_args()

    env = Env()
    with open(args.client_cert) as f:
        env.client_chain = X509CertChain()
        env.client_chain.parsePemList(f.read())
    with open(args.client_key) as f:
        env.client_key = parsePEMKey(f.read(), private=True)
    ports = {False: dict(s.split("=", 1) for s in args.server), True: dict(s.split("=", 1) for s in args.mtls_server)}
    for mtls, table in ports.items():
        missing = [n for n in SERVERS if n not in table]
        if missing:
            print("adversarial.py: FAIL: no %s port for %s" % ("--mtls-server" if mtls else "--server", ", ".join(missing)))
            return 2
    overrides = {}
    for item in args.expect:
        name, outcome = item.split("=", 1)
        overrides[name] = {outcome}

    failures = []
    widths = (40, 26)
    print("%-40s %-26s %-26s %-26s %-26s %-26s" % ("case", "expected", *SERVERS))
    started = time.monotonic()
    for name, run, expected, mtls in CASES:
        if args.only and not any(o in name for o in args.only):
            continue
        if name in overrides:
            expected = overrides[name]
        got = {}
        for server in SERVERS:
            got[server] = run_case(run, int(ports[mtls][server]), env)
        problems, notes = [], []
        for server in SERVERS:
            want = expected.get(server, expected.get(FAMILY[server])) if isinstance(expected, dict) else expected
            if want is not None and got[server] not in want:
                problems.append("%s: expected %s, got %s" % (server, " or ".join(sorted(want)), got[server]))
            if got[server].startswith("client-error"):
                problems.append("%s: %s" % (server, got[server]))
        for ours, library in PAIRS:
            if got[ours] != got[library]:
                known = KNOWN_DIFFERENCES.get((name, ours))
                if not known or known[0] != got[ours] or got[library] not in known[1]:
                    problems.append("%s differs from %s: %s vs %s" % (ours, library, got[ours], got[library]))
                else:
                    notes.append("documented difference")
        shown_expected = ("/".join(sorted(expected)) if isinstance(expected, set) else
                          "-" if expected is None else
                          "; ".join("%s: %s" % (k, "/".join(sorted(v))) for k, v in expected.items()))
        mark = "FAIL" if problems else "ok" + "".join(" (%s)" % n for n in notes)
        print("%-40s %-26s %s  %s" % (name, shown_expected, " ".join("%-26s" % got[s] for s in SERVERS), mark), flush=True)
        for problem in problems:
            print("    " + problem, flush=True)
        if problems:
            failures.append(name)
    print("%d cases, %d failed, %.1f s" % (len([c for c in CASES if not args.only or any(o in c[0] for o in args.only)]),
                                          len(failures), time.monotonic() - started))
    if failures:
        print("FAILED: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
