"""Shared settings of the adversarial suite."""
HOST = "127.0.0.1"
PAIRS = [("tlskit-openssl", "s_server"), ("tlskit-gnutls", "gnutls-serv")]
SERVERS = [name for pair in PAIRS for name in pair]
FAMILY = {"tlskit-openssl": "openssl", "s_server": "openssl", "tlskit-gnutls": "gnutls", "gnutls-serv": "gnutls"}
CASE_TIMEOUT = 12   # seconds, hard bound for one case against one server
IO_TIMEOUT = 5      # seconds, every socket operation
REACTION_WAIT = 1.5  # seconds a server gets to react to an attack before we check it is still alive
PING = b"ping\n"
