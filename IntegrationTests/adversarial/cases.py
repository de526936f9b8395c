"""The cases of adversarial.py: each builds its attack on a Peer (plumbing.py) and returns
the server's outcome."""
import os
import select
import signal
import sys
import socket
import struct
import time

from settings import *  # noqa: F401,F403
from plumbing import *  # noqa: F401,F403

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
        pending = [True]  # only the ClientHello's record: an encrypted handshake record (the
        # TLS 1.2 Finished under ChaCha20-Poly1305, no explicit nonce) starts with 0x01 one
        # time in 256, and rewriting its version made s_server answer protocol_version in CI

        def rewrite(header, body):
            if pending[0] and header[0] == ContentType.handshake and body[:1] == b"\x01":
                pending[0] = False
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
