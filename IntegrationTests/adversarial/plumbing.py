"""The plumbing of adversarial.py: a tlslite-ng connection whose records can be seen and
rewritten, raw sockets, and one peer under test. See adversarial.py for the cases."""
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

from settings import HOST, IO_TIMEOUT, PING, REACTION_WAIT  # noqa: E402


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
