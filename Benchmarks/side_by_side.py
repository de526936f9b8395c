#!/usr/bin/env python3
"""TLSKitNIO side by side with swift-nio-ssl: the same NIOHTTP1 keep-alive server
(Sources/TLSKitHTTPBench) with TLS from swift-nio-ssl's NIOSSLServerHandler and from
TLSKitNIO's TLSChannelHandler on each backend, loaded over loopback in one run.

    python3 Benchmarks/side_by_side.py [--reps 3] [--seconds 8] [--idle 4000]

Each figure is a median over --reps rounds; within a round the three servers run one after
another (round-robin), so machine noise hits them alike. Ratios are to swift-nio-ssl.
Server: one event loop (--threads 1); load: wrk with one thread (keep-alive requests, new
connections with "Connection: close", 1 MiB bodies), `openssl s_time` for full and resumed
handshakes, and Python's ssl for memory per idle connection (RSS growth of the server over
--idle connections, TLS 1.3, ECDSA P-256). Server and load share this machine's cores: the
absolute rates are those of a 2-core box; the ratios are the result.
Writes results/side-by-side.md.
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


class Server:
    def __init__(self, impl):
        self.proc = subprocess.Popen([BIN, "--impl", impl, "--cert", CERT, "--key", KEY, "--threads", "1"],
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
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if close:
        cmd += ["-H", "Connection: close"]
    out = subprocess.run(cmd + [f"https://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    mb = float(transfer.group(1)) * {"B": 1e-6, "KB": 1.024e-3, "MB": 1.048576, "GB": 1073.741824}[transfer.group(2)]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    p99_ms = float(p99.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors and "Non-2xx" in errors.group(0):
        raise RuntimeError(out)
    return rate, mb, p99_ms


def s_time(port, seconds, reuse):
    cmd = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-time", str(seconds), "-reuse" if reuse else "-new"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL).stdout
    m = re.search(r"(\d+) connections in ([\d.]+) real seconds", out)
    return int(m.group(1)) / float(m.group(2))


def idle_memory(server, count):
    """RSS growth per connection, in KB, with `count` idle TLS 1.3 connections open."""
    context = ssl.create_default_context(cafile=CA)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    conns = []
    before = server.rss_kib()
    for _ in range(count):
        s = context.wrap_socket(socket.create_connection(("127.0.0.1", server.port)), server_hostname="localhost")
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while not got.endswith(b"hello\n"):
            got += s.recv(4096)
        conns.append(s)
    time.sleep(1)
    after = server.rss_kib()
    for s in conns:
        s.close()
    return (after - before) * 1024 / count / 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--idle", type=int, default=4000)
    opts = parser.parse_args()
    bench.make_certs()
    subprocess.run(["swift", "build", "-c", "release", "--package-path", HERE, "--product", "TLSKitHTTPBench"], check=True)
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, opts.idle + 200)), hard))

    metrics = {}  # (metric, impl) -> [values]
    def add(metric, impl, value):
        metrics.setdefault((metric, impl), []).append(value)

    for rep in range(opts.reps):
        for impl in IMPLS:
            server = Server(impl)
            try:
                cpu0 = server.cpu_seconds()
                rate, _, p99 = wrk(server.port, "/", opts.seconds, 32)
                add("keep-alive requests/s (32 connections)", impl, rate)
                add("keep-alive p99 latency, ms (lower is better)", impl, p99)
                rate, _, _ = wrk(server.port, "/", opts.seconds, 16, close=True)
                add("new connections/s, full handshake (wrk)", impl, rate)
                add("full handshakes/s (s_time -new)", impl, s_time(server.port, opts.seconds, reuse=False))
                add("resumed handshakes/s (s_time -reuse)", impl, s_time(server.port, opts.seconds, reuse=True))
                _, mb, _ = wrk(server.port, "/bulk", opts.seconds, 4)
                add("bulk MB/s (1 MiB bodies, 16 KiB writes)", impl, mb)
                if rep == 0:
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
    with open(os.path.join(HERE, "results", "side-by-side.md"), "w") as f:
        f.write(f"Side by side, {opts.reps} rounds (median), {opts.seconds} s per load, one server event loop, "
                f"release builds; swift-nio-ssl 2.37.6 (BoringSSL) against TLSKitNIO; {versions}.\n"
                f"Ratios are TLSKit / swift-nio-ssl (for latency and memory, lower is better).\n\n{table}\n")


if __name__ == "__main__":
    main()
