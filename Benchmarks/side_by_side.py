#!/usr/bin/env python3
"""TLSKitNIO side by side with swift-nio-ssl: the same NIOHTTP1 keep-alive server
(Sources/TLSKitHTTPBench) with TLS from swift-nio-ssl's NIOSSLServerHandler and from
TLSKitNIO's TLSChannelHandler on each backend, loaded over loopback in one run.

    python3 Benchmarks/side_by_side.py [--reps 3] [--seconds 8] [--idle 4000]

Each figure is a median over --reps rounds; within a round the three servers run one after
another (round-robin), so machine noise hits them alike. Ratios are to swift-nio-ssl.
Server: one event loop (--threads 1), pinned to CPU 0 while the load runs on CPU 1 (--no-pin
to let the scheduler place them; unpinned, the two compete for a core and rates swing by a
third between runs); load: wrk with one thread (keep-alive requests, new
connections with "Connection: close", 1 MiB bodies), `openssl s_time` for full and resumed
handshakes, and Python's ssl for memory per idle connection (the server's RSS growth from
--idle to 2 × --idle open connections, TLS 1.3, ECDSA P-256). Beside each rate, the server's CPU time per request
(user + system, from /proc): the stable measure when the load generator, not the server, is
the bottleneck. The absolute rates are those of a 2-core box; the ratios are the result.

--movsb-threshold N runs servers and load with GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=N
(a diagnosis: see results/side-by-side.md on copies whose source and destination differ in
alignment). Writes results/side-by-side.md (results/side-by-side-movsb.md with the option).
"""
import argparse
import os
import re
import socket
import ssl
import statistics
import subprocess
import time

import run as bench  # the certificates and paths of run.py

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.join(HERE, ".build", "release", "TLSKitHTTPBench")
IMPLS = ["nio-ssl", "openssl", "gnutls"]
CERT = os.path.join(bench.CERTS, "ecdsa-leaf.pem")
KEY = os.path.join(bench.CERTS, "ecdsa-leaf.key")
CA = os.path.join(bench.CERTS, "ecdsa-ca.pem")


SERVER_CPU = []  # taskset prefixes, set in main()
LOAD_CPU = []


class Server:
    def __init__(self, impl, threads=1):
        self.proc = subprocess.Popen(SERVER_CPU + [BIN, "--impl", impl, "--cert", CERT, "--key", KEY, "--threads", str(threads)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"{impl} server did not start: {line!r}")
        self.port = int(m.group(1))

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def wrk(port, path, seconds, connections, close=False):
    cmd = LOAD_CPU + ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    out = subprocess.run(cmd + [f"https://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    count = int(re.search(r"(\d+) requests in", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mb = float(transfer.group(1)) * {"B": 1e-6, "KB": 1.024e-3, "MB": 1.048576, "GB": 1073.741824}[transfer.group(2)]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors and "Non-2xx" in errors.group(0):
        raise RuntimeError(out)
    return rate, mb, p99_ms, count


def s_time(port, seconds, reuse):
    """Handshakes per second; with `reuse`, TLS 1.2 resumption (s_time resumes only TLS 1.2)."""
    cmd = LOAD_CPU + ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-time", str(seconds)]
    cmd += ["-reuse", "-tls1_2"] if reuse else ["-new"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL).stdout
    m = re.search(r"(\d+) connections in ([\d.]+) real seconds", out)
    return int(m.group(1)) / float(m.group(2)), int(m.group(1))


def resumed_tls13(port, seconds):
    """TLS 1.3 resumed handshakes per second (Python's ssl as the client, one connection at a
    time, each offering the ticket of the one before). `openssl s_time -reuse` cannot measure
    this: over TLS 1.3 it takes the session before the server's ticket arrives, so every
    connection is a full handshake. Fails unless nearly every connection was resumed.
    Returns (rate, connections)."""
    context = ssl.create_default_context(cafile=CA)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    session = None
    count = reused = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        raw = socket.create_connection(("127.0.0.1", port))
        # Without it, Nagle holds the request behind the unacknowledged Finished until the
        # server's delayed ACK (40 ms) when the server sends nothing after a resumption.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with context.wrap_socket(raw, server_hostname="localhost", session=session) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            while s.recv(4096):
                pass
            count += 1
            reused += s.session_reused
            session = s.session
    elapsed = time.monotonic() - start
    if reused < 0.95 * (count - 1):
        raise RuntimeError(f"only {reused} of {count} TLS 1.3 connections were resumed")
    return count / elapsed, count


def idle_memory(server, count):
    """Server memory per idle TLS 1.3 connection, in KB: the RSS growth from `count` open
    connections to 2 × `count`. The first batch is not counted: it grows what every server
    grows once (malloc arenas, caches, the event loop's tables), by amounts that differ from
    run to run by more than a connection's own memory summed over the batch."""
    context = ssl.create_default_context(cafile=CA)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    conns = []

    def open_batch():
        for _ in range(count):
            raw = socket.create_connection(("127.0.0.1", server.port))
            # Without TCP_NODELAY the request waits behind the client's Finished for the
            # server's delayed ACK: 40 ms a connection, minutes for a batch.
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s = context.wrap_socket(raw, server_hostname="localhost")
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            got = b""
            while not got.endswith(b"hello\n"):
                got += s.recv(4096)
            conns.append(s)
        time.sleep(1)
        return server.rss_kib()

    try:
        first = open_batch()
        second = open_batch()
    finally:
        for s in conns:
            s.close()
    return (second - first) * 1024 / count / 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--idle", type=int, default=4000)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--movsb-threshold", type=int)
    opts = parser.parse_args()
    if not opts.no_pin and len(os.sched_getaffinity(0)) >= 2:
        cpus = sorted(os.sched_getaffinity(0))
        SERVER_CPU[:] = ["taskset", "-c", str(cpus[0])]
        LOAD_CPU[:] = ["taskset", "-c", str(cpus[1])]
    if opts.movsb_threshold:
        os.environ["GLIBC_TUNABLES"] = f"glibc.cpu.x86_rep_movsb_threshold={opts.movsb_threshold}"
    bench.make_certs()
    subprocess.run(["swift", "build", "-c", "release", "--package-path", HERE, "--product", "TLSKitHTTPBench"], check=True)
    if LOAD_CPU:
        os.sched_setaffinity(0, {int(LOAD_CPU[-1])})  # this script's own client (resumption) runs beside the load
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * opts.idle + 200)), hard))

    metrics = {}  # (metric, impl) -> [values]
    def add(metric, impl, value):
        metrics.setdefault((metric, impl), []).append(value)

    for rep in range(opts.reps):
        for impl in IMPLS:
            server = Server(impl)
            try:
                cpu0 = server.cpu_seconds()

                def measured(load):
                    """Runs a load; returns its result and the server's CPU µs per unit of it."""
                    before = server.cpu_seconds()
                    result = load()
                    return result, (server.cpu_seconds() - before) * 1e6 / result[-1]

                (rate, _, p99, _), cpu = measured(lambda: wrk(server.port, "/", opts.seconds, 32))
                add("keep-alive requests/s (32 connections)", impl, rate)
                add("keep-alive p99 latency, ms (lower is better)", impl, p99)
                add("keep-alive: server CPU µs per request (lower is better)", impl, cpu)
                (rate, _, _, _), cpu = measured(lambda: wrk(server.port, "/", opts.seconds, 16, close=True))
                add("new connections/s, full handshake (wrk)", impl, rate)
                add("new connections: server CPU µs per connection (lower is better)", impl, cpu)
                (rate, _), cpu = measured(lambda: s_time(server.port, opts.seconds, reuse=False))
                add("full handshakes/s (s_time -new)", impl, rate)
                (rate, _), cpu = measured(lambda: resumed_tls13(server.port, opts.seconds))
                add("resumed TLS 1.3 handshakes/s (Python ssl, one at a time)", impl, rate)
                add("resumed TLS 1.3: server CPU µs per handshake (lower is better)", impl, cpu)
                (rate, _), cpu = measured(lambda: s_time(server.port, opts.seconds, reuse=True))
                add("resumed TLS 1.2 handshakes/s (s_time -reuse -tls1_2)", impl, rate)
                add("resumed TLS 1.2: server CPU µs per handshake (lower is better)", impl, cpu)
                (_, mb, _, _), cpu = measured(lambda: wrk(server.port, "/bulk", opts.seconds, 4))
                add("bulk MB/s (1 MiB bodies, 16 KiB writes)", impl, mb)
                add("bulk: server CPU µs per MiB (lower is better)", impl, cpu)
                add("RSS per idle connection, KB (lower is better)", impl, idle_memory(server, opts.idle))
                print(f"round {rep + 1} {impl}: server CPU {server.cpu_seconds() - cpu0:.1f} s", flush=True)
            finally:
                server.stop()

    names = []
    for metric, _ in metrics:
        if metric not in names:
            names.append(metric)
    lines = ["| measure | swift-nio-ssl | TLSKit OpenSSL | TLSKit GnuTLS | ratio OpenSSL | ratio GnuTLS |",
             "|---|---|---|---|---|---|"]
    for metric in names:
        med = {impl: statistics.median(metrics[(metric, impl)]) for impl in IMPLS}
        base = med["nio-ssl"]
        lines.append(f"| {metric} | {base:,.1f} | {med['openssl']:,.1f} | {med['gnutls']:,.1f} | "
                     f"**{med['openssl'] / base:.3f}** | **{med['gnutls'] / base:.3f}** |")
    table = "\n".join(lines)
    print(table)
    versions = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    name = "side-by-side-movsb.md" if opts.movsb_threshold else "side-by-side.md"
    setup = ("server pinned to one CPU and load to the other" if SERVER_CPU else "server and load unpinned")
    if opts.movsb_threshold:
        setup += f"; GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold={opts.movsb_threshold}"
    with open(os.path.join(HERE, "results", name), "w") as f:
        f.write(f"Side by side, {opts.reps} rounds (median), {opts.seconds} s per load, one server event loop, "
                f"release builds, {setup}; swift-nio-ssl 2.37.6 (BoringSSL) against TLSKitNIO; {versions}.\n"
                f"Ratios are TLSKit / swift-nio-ssl (for latency and memory, lower is better).\n\n{table}\n")


if __name__ == "__main__":
    main()
