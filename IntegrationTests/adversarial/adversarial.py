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

try:
    import tlslite
    from tlslite import TLSConnection, HandshakeSettings, X509CertChain, parsePEMKey
    from tlslite.constants import AlertDescription, ContentType, HandshakeType, CipherSuite
    from tlslite.errors import (TLSRemoteAlert, TLSLocalAlert, TLSAbruptCloseError, TLSError)
    from tlslite.messages import Message, ClientHello, Certificate, CertificateVerify
    from tlslite.extensions import TLSExtension
except ImportError as error:
    print("adversarial.py: FAIL: Python module tlslite-ng is missing (%s); install it with "
          "'python3 -m pip install tlslite-ng==0.8.0' (IntegrationTests/adversarial.sh does)" % error)
    sys.exit(2)
if tlslite.__version__ != "0.8.0":
    print("adversarial.py: note: tlslite-ng %s, written against 0.8.0" % tlslite.__version__)

HOST = "127.0.0.1"
PAIRS = [("tlskit-openssl", "s_server"), ("tlskit-gnutls", "gnutls-serv")]
SERVERS = [name for pair in PAIRS for name in pair]
FAMILY = {"tlskit-openssl": "openssl", "s_server": "openssl", "tlskit-gnutls": "gnutls", "gnutls-serv": "gnutls"}
CASE_TIMEOUT = 12   # seconds, hard bound for one case against one server
IO_TIMEOUT = 5      # seconds, every socket operation
REACTION_WAIT = 1.5  # seconds a server gets to react to an attack before we check it is still alive
PING = b"ping\n"


class Outcome(Exception):
    """Raised to end a case early with its outcome."""


# --- The socket under tlslite: sees every record we send, and can rewrite it ---------------------

class RecordTap:
    """Wraps the TCP socket tlslite writes to. `rewrite(header, body) -> bytes` may replace
    each outgoing record (header: type, version, length); `None` leaves records alone."""

    def __init__(self, sock):
        self.sock = sock
        self.rewrite = None
        self.pending = b""

    def _filter(self, data):
        if self.rewrite is None and not self.pending:
            return bytes(data)
        self.pending += bytes(data)
        out = b""
        while len(self.pending) >= 5:
            length = struct.unpack(">H", self.pending[3:5])[0]
            if len(self.pending) < 5 + length:
                break
            header, body = self.pending[:5], self.pending[5:5 + length]
            self.pending = self.pending[5 + length:]
            out += self.rewrite(header, body) if self.rewrite else header + body
        return out

    def send(self, data):
        self.sock.sendall(self._filter(data))
        return len(data)

    def sendall(self, data):
        self.sock.sendall(self._filter(data))

    def __getattr__(self, name):
        return getattr(self.sock, name)


class HookedConnection(TLSConnection):
    """A tlslite connection whose outgoing handshake messages pass through `self.hook(msg)`
    (which returns the message to send instead) before they are written and hashed."""
    hook = None

    def _sendMsg(self, msg, randomizeFirstBlock=True, update_hashes=True):
        if self.hook is not None:
            msg = self.hook(msg)
        return TLSConnection._sendMsg(self, msg, randomizeFirstBlock, update_hashes)


class Raw:
    """A message of any content type with fixed bytes (tlslite's Message with write())."""

    def __init__(self, content_type, data):
        self.contentType = content_type
        self.data = bytearray(data)

    def write(self):
        return bytearray(self.data)


def handshake_message(msg_type, body):
    return Raw(ContentType.handshake, bytes([msg_type]) + len(body).to_bytes(3, "big") + body)


# --- Running one case against one server ---------------------------------------------------

def settings_for(version, **changes):
    s = HandshakeSettings()
    s.use_heartbeat_extension = False
    s.certificate_compression_send = []  # a plain Certificate message, for the cases that spoil it
    if version == "1.2":
        s.minVersion = s.maxVersion = (3, 3)
    elif version == "1.3":
        s.minVersion = s.maxVersion = (3, 4)
    elif version == "1.1":
        s.minVersion = s.maxVersion = (3, 2)
    elif version == "1.0":
        s.minVersion = s.maxVersion = (3, 1)
    for key, value in changes.items():
        setattr(s, key, value)
    return s


class Peer:
    """One connection from this client to one server."""

    def __init__(self, port, env):
        self.env = env
        self.raw = socket.create_connection((HOST, port), timeout=IO_TIMEOUT)
        self.raw.settimeout(IO_TIMEOUT)
        self.tap = RecordTap(self.raw)
        self.conn = HookedConnection(self.tap)

    def close(self):
        try:
            self.raw.close()
        except OSError:
            pass

    def handshake(self, settings, client_cert=False, hook=None):
        """Runs the handshake; raises Outcome if the server ended it."""
        self.conn.hook = hook
        chain = key = None
        if client_cert:
            chain, key = self.env.client_chain, self.env.client_key
        with outcome_of_io():
            self.conn.handshakeClientCert(chain, key, settings=settings, serverName="localhost")
        self.conn.hook = None

    def version_name(self):
        return {(3, 1): "TLSv1.0", (3, 2): "TLSv1.1", (3, 3): "TLSv1.2", (3, 4): "TLSv1.3"}.get(
            self.conn.version, str(self.conn.version))

    def ping(self):
        """Application data both ways (this also takes in TLS 1.3 session tickets)."""
        with outcome_of_io():
            self.conn.write(PING)
            got = b""
            while len(got) < len(PING):
                data = self.conn.read(max=64, min=1)
                if not data:
                    raise Outcome("close_notify")
                got += bytes(data)
        if sorted(got) != sorted(PING):  # s_server -rev sends it back reversed
            raise Outcome("client-error echo %r" % got)

    def send_raw(self, data):
        try:
            self.raw.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def send_record(self, content_type, payload):
        """An encrypted record (current keys) holding `payload` as is: no fragmentation."""
        with outcome_of_io():
            for _ in self.conn._sendMsgThroughSocket(Raw(content_type, payload)):
                pass

    def settle(self):
        """TLS 1.3 ends the handshake for the client before the server has read the client's
        Certificate, CertificateVerify and Finished. Give the server REACTION_WAIT to object
        before we write, so our write cannot meet a closed socket and turn its alert into a
        reset; take in whatever it sent meanwhile (session tickets, or its alert)."""
        readable, _, _ = select.select([self.raw], [], [], REACTION_WAIT)
        if not readable:
            return
        self.raw.setblocking(False)
        try:
            with outcome_of_io():
                for result in self.conn.readAsync(max=64, min=1):
                    if result in (0, 1):
                        break  # nothing more for now
                    raise Outcome("client-error application data before the first ping: %r" % result)
        finally:
            if self.raw.fileno() >= 0:  # tlslite closes the socket when an alert came
                self.raw.settimeout(IO_TIMEOUT)

    def reaction(self):
        """What the server does after an attack: an alert, a close, or nothing (then it must
        still echo application data)."""
        readable, _, _ = select.select([self.raw], [], [], REACTION_WAIT)
        with outcome_of_io():
            if not readable:
                self.conn.write(PING)
            data = self.conn.read(max=64, min=1)
            if not data:
                return "close_notify"
            return "ignored" if not readable else "data"


class outcome_of_io:
    """Turns what tlslite and the socket raise into an Outcome."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is None or isinstance(error, Outcome):
            return False
        if isinstance(error, TLSRemoteAlert):
            if error.description == AlertDescription.close_notify:
                raise Outcome("close_notify")
            raise Outcome("alert " + AlertDescription.toStr(error.description))
        if isinstance(error, TLSAbruptCloseError):
            raise Outcome("eof")
        if isinstance(error, (ConnectionResetError, BrokenPipeError)):
            raise Outcome("reset")
        if isinstance(error, socket.timeout):
            raise Outcome("timeout")
        if isinstance(error, TLSLocalAlert):
            raise Outcome("client-error %s" % error)
        if isinstance(error, (TLSError, OSError)):
            raise Outcome("client-error %s: %s" % (type(error).__name__, error))
        return False


# --- The cases -------------------------------------------------------------------------------
# Each case: (name, function(peer) -> outcome, expected, mtls). `expected` is a set of outcomes
# every server must give, or a dict when they differ: keys "openssl"/"gnutls" (both servers of
# that library) or a server's name, values sets. Where a specification allows several answers,
# the expectation is the one the library's own server gives, so ours is held to it too.

def established(peer, version, **settings):
    peer.handshake(settings_for(version, **settings))
    peer.ping()


def flip(offset):
    """A rewrite that flips one bit at `offset` of the body of the next application-data
    record (negative: from the end), then stops rewriting."""
    def rewrite(header, body):
        if header[0] != ContentType.application_data:
            return header + body
        body = bytearray(body)
        body[offset] ^= 0x01
        tap_off()
        return header + bytes(body)
    return rewrite


def tap_off():
    CURRENT.tap.rewrite = None


CURRENT = None  # the Peer of the running case (for rewrites that switch themselves off)


def case_handshake(version):
    def run(peer):
        established(peer, version)
        return "handshake " + peer.version_name()
    return run


def case_tamper(version, offset):
    def run(peer):
        established(peer, version)
        peer.tap.rewrite = flip(offset)
        with outcome_of_io():
            peer.conn.write(b"hello\n")
        return peer.reaction()
    return run


def case_tamper_padding(peer):
    """TLS 1.2 CBC, MAC-then-encrypt (no encrypt_then_mac): a record whose MAC is right
    but whose padding bytes disagree with the padding length."""
    established(peer, "1.2", cipherNames=["aes128", "aes256"], useEncryptThenMAC=False)
    if not peer.conn._recordLayer.isCBCMode():
        return "client-error no CBC suite negotiated"
    layer = peer.conn._recordLayer._recordLayer if hasattr(peer.conn._recordLayer, "_recordLayer") else peer.conn._recordLayer

    def bad_padding(data):
        block = layer.blockSize
        n = block - 1 - (len(data) % block)
        if n == 0:
            n = block  # a whole block of padding instead, so there is a byte to spoil
        # n padding bytes, the first one wrong, then the padding-length byte n
        return data + bytearray([n ^ 0x01] + [n] * (n - 1) + [n])
    layer.addPadding = bad_padding
    with outcome_of_io():
        peer.conn.write(b"hello\n")
    return peer.reaction()


def case_record(version, content_type, payload, encrypted=True):
    """After the handshake, one record of `content_type` with `payload`: encrypted with the
    current keys (TLS 1.3: as the inner content type), or as cleartext bytes."""
    def run(peer):
        established(peer, version)
        if encrypted:
            peer.send_record(content_type, payload)
        else:
            peer.send_raw(bytes([content_type]) + b"\x03\x03" + len(payload).to_bytes(2, "big") + payload)
        return peer.reaction()
    return run


def case_first_record(record):
    """A record instead of a ClientHello."""
    def run(peer):
        peer.send_raw(record)
        return read_cleartext_answer(peer)
    return run


def read_cleartext_answer(peer):
    """Reads the server's cleartext answer to a ClientHello-stage record."""
    buf = b""
    deadline = time.monotonic() + IO_TIMEOUT
    while time.monotonic() < deadline:
        try:
            data = peer.raw.recv(65536)
        except ConnectionResetError:
            return "reset" if not buf else parse_first_records(buf)
        except socket.timeout:
            return "timeout" if not buf else parse_first_records(buf)
        if not data:
            return parse_first_records(buf) if buf else "eof"
        buf += data
        answer = parse_first_records(buf, final=False)
        if answer:
            return answer
    return "timeout"


def parse_first_records(buf, final=True):
    while len(buf) >= 5:
        kind, length = buf[0], struct.unpack(">H", buf[3:5])[0]
        if len(buf) < 5 + length:
            break
        body = buf[5:5 + length]
        if kind == ContentType.alert and length == 2:
            return "alert " + AlertDescription.toStr(body[1])
        if kind == ContentType.handshake and body[:1] == b"\x02":
            return "server_hello"
        buf = buf[5 + length:]
    return "eof" if final else None


def case_keyupdate(body):
    def run(peer):
        established(peer, "1.3")
        peer.send_record(ContentType.handshake, bytes([HandshakeType.key_update]) + len(body).to_bytes(3, "big") + body)
        return peer.reaction()
    return run


def case_overflow_plaintext(version, size):
    """An encrypted record (valid MAC/tag) whose plaintext is `size` bytes."""
    def run(peer):
        established(peer, version)
        peer.conn._recordLayer.send_record_limit = 1 << 16  # let tlslite build it
        peer.send_record(ContentType.application_data, b"A" * size)
        return peer.reaction()
    return run


def case_overflow_ciphertext(version, length):
    """A record header announcing `length` bytes, and that many random bytes."""
    def run(peer):
        established(peer, version)
        peer.send_raw(b"\x17\x03\x03" + length.to_bytes(2, "big") + os.urandom(length))
        return peer.reaction()
    return run


def grow_hello(suites=0, extensions=0, pad_to=0, legacy_version=None, record_size=None):
    """A hook that enlarges the ClientHello (unknown suites first, unknown extensions
    before tlslite's own) and may change its legacy_version."""
    def hook(msg):
        if not isinstance(msg, ClientHello):
            return msg
        if suites:
            # unassigned code points, then what tlslite offers
            junk = [0x5a00 + i for i in range(suites)]
            msg.cipher_suites = junk + list(msg.cipher_suites)
        extra = []
        for i in range(extensions):
            extra.append(TLSExtension(extType=0x7a00 + i).create(bytearray(b"x" * (i % 7))))
        if pad_to:
            size = len(msg.write()) + sum(len(e.write()) for e in extra)
            n = 0
            while size < pad_to:
                chunk = min(8000, pad_to - size - 4)
                if chunk <= 0:
                    break
                extra.append(TLSExtension(extType=0x7b00 + n).create(bytearray(b"p" * chunk)))
                size += chunk + 4
                n += 1
        if extra:
            # after all of tlslite's (pre_shared_key, had there been one, must stay last)
            msg.extensions = list(msg.extensions) + extra
        if legacy_version:
            msg.client_version = legacy_version
        return msg
    return hook


def case_big_hello(version, record_size=None, **grow):
    def run(peer):
        if record_size:
            peer.conn.recordSize = record_size
        peer.handshake(settings_for(version), hook=grow_hello(**grow))
        if record_size:
            peer.conn.recordSize = 16384
        peer.ping()
        return "handshake " + peer.version_name()
    return run


def case_versions(legacy, record, supported_versions):
    """legacy_version and the record-layer version of the ClientHello flight; with or
    without the supported_versions extension (TLS 1.3 offered or not)."""
    def run(peer):
        def rewrite(header, body):
            if header[0] == ContentType.handshake and body[:1] == b"\x01":
                return header[:1] + bytes(record) + header[3:] + body
            return header + body
        peer.tap.rewrite = rewrite
        s = settings_for("1.3" if supported_versions else "1.2")
        if supported_versions:
            s.minVersion = (3, 3)
        peer.handshake(s, hook=grow_hello(legacy_version=tuple(legacy)))
        peer.tap.rewrite = None
        peer.ping()
        return "handshake " + peer.version_name()
    return run


def case_old_version(version):
    def run(peer):
        peer.handshake(settings_for(version))
        peer.ping()
        return "handshake " + peer.version_name()
    return run


def cert_hook(kind, version):
    """Spoils our Certificate or CertificateVerify message."""
    def hook(msg):
        if kind.startswith("cert-") and isinstance(msg, Certificate):
            der = bytes(CURRENT.env.client_chain.x509List[0].writeBytes())
            tls13 = version == "1.3"
            ctx = b"\x00" if tls13 else b""
            entry_ext = b"\x00\x00" if tls13 else b""
            if kind == "cert-bad-length":
                # certificate_list says 3 bytes more than there are
                entry = len(der).to_bytes(3, "big") + der + entry_ext
                body = ctx + (len(entry) + 3).to_bytes(3, "big") + entry
            elif kind == "cert-bad-entry-length":
                # the entry's own length runs past the list
                entry = (len(der) + 5).to_bytes(3, "big") + der + entry_ext
                body = ctx + len(entry).to_bytes(3, "big") + entry
            elif kind == "cert-garbage":
                junk = b"\x30\x82\x01\x00" + b"\x41" * 256
                entry = len(junk).to_bytes(3, "big") + junk + entry_ext
                body = ctx + len(entry).to_bytes(3, "big") + entry
            elif kind == "cert-trailing":
                entry = len(der).to_bytes(3, "big") + der + entry_ext
                body = ctx + len(entry).to_bytes(3, "big") + entry + b"\x00"
            else:
                raise ValueError(kind)
            return handshake_message(HandshakeType.certificate, body)
        if kind.startswith("cv-") and isinstance(msg, CertificateVerify):
            if kind == "cv-wrong-scheme":
                # an RSA-PSS scheme over an ECDSA key's signature
                msg.signatureAlgorithm = (8, 4)
            elif kind == "cv-unoffered-scheme":
                # ecdsa_sha1 (0x0203): not in any CertificateRequest of these servers
                msg.signatureAlgorithm = (2, 3)
            elif kind == "cv-bad-signature":
                sig = bytearray(msg.signature)
                sig[-1] ^= 0x01
                msg.signature = sig
            return msg
        return msg
    return hook


def case_client_cert(version, kind):
    def run(peer):
        if kind == "none":
            peer.handshake(settings_for(version))
        else:
            peer.handshake(settings_for(version), client_cert=True,
                           hook=None if kind == "good" else cert_hook(kind, version))
        if version == "1.3":
            peer.settle()
        peer.ping()
        return "handshake " + peer.version_name()
    return run


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
    global CURRENT
    peer = None

    def on_alarm(signum, frame):
        raise Outcome("timeout")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(CASE_TIMEOUT)
    try:
        peer = Peer(port, env)
        CURRENT = peer
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
