#!/usr/bin/env python3
"""Does TLSKit scale across cores? Two measures, written to results/scaling.md:

1. In memory (`TLSKitBench scale`): client and server handshakes on 1 and on 2 threads at
   once, all threads sharing one client and one server context (the SSL_CTX or GnuTLS
   credentials, the client's session cache, the server's ticket-key ring). Full handshakes,
   and resumed ones (--resume). The ratio of the two rates is the scaling; server and client
   share the threads, so nothing else competes for the cores.
2. The NIO server (`TLSKitHTTPBench`, the side-by-side server) with 1 and with 2 event loops
   under wrk's new-connection load: the server's CPU time per connection. A lock that
   contends shows as more CPU per connection with 2 loops. (The rate itself cannot show
   scaling on a 2-core machine whose other core runs the load generator.)

    python3 Benchmarks/scaling.py [--reps 3] [--seconds 4]

Each figure is the median of --reps interleaved runs.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess

import run as bench
import side_by_side as sbs

HERE = os.path.dirname(os.path.abspath(__file__))


def in_memory(backend, threads, resume, seconds):
    args = ["scale", "--backend", backend, "--threads", str(threads), "--seconds", str(seconds)]
    result = bench.run(bench.SWIFT_BIN, args + (["--resume"] if resume else []))
    if resume and result["resumed"] < 0.45 * result["handshakes"]:
        raise RuntimeError(f"{backend}: only {result['resumed']} of {result['handshakes']} handshakes resumed")
    return result["hs_per_s"], result["handshakes"] / result["cpu_s"]


def nio_server(impl, loops, seconds):
    server = sbs.Server(impl, threads=loops)
    stat = None
    try:
        if shutil.which("perf"):  # futex calls: a contended lock sleeps in one
            stat = subprocess.Popen(["perf", "stat", "-x,", "-e", "syscalls:sys_enter_futex,context-switches",
                                     "-p", str(server.proc.pid)], stderr=subprocess.PIPE, text=True)
        before = server.cpu_seconds()
        rate, _, _, count = sbs.wrk(server.port, "/", seconds, 16, close=True)
        cpu = (server.cpu_seconds() - before) * 1e6 / count
        futexes = switches = float("nan")
        if stat:
            stat.send_signal(signal.SIGINT)
            counts = {line.split(",")[2]: float(line.split(",")[0]) for line in stat.communicate()[1].splitlines()
                      if line.count(",") >= 2 and line.split(",")[0].replace(".", "").isdigit()}
            futexes = counts.get("syscalls:sys_enter_futex", futexes) / count
            switches = counts.get("context-switches", switches) / count
        return rate, cpu, futexes, switches
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    opts = parser.parse_args()
    bench.make_certs()
    for product in ("TLSKitBench", "TLSKitHTTPBench"):
        subprocess.run(["swift", "build", "-c", "release", "--package-path", HERE, "--product", product], check=True)

    memory = {}  # (backend, resume, threads) -> [(rate, per cpu)]
    server = {}  # (impl, loops) -> [(rate, cpu µs)]
    for _ in range(opts.reps):
        for backend in ("openssl", "gnutls"):
            for resume in (False, True):
                for threads in (1, 2):
                    memory.setdefault((backend, resume, threads), []).append(
                        in_memory(backend, threads, resume, opts.seconds))
            for loops in (1, 2):
                server.setdefault((backend, loops), []).append(nio_server(backend, loops, opts.seconds))

    def med(values, i):
        return statistics.median(v[i] for v in values)

    lines = [f"Scaling across cores: {opts.reps} interleaved runs (median), {opts.seconds} s each, "
             f"{os.cpu_count()} CPUs, release builds. Written by `scaling.py`.", "",
             "In memory, one shared client and server context, handshakes (client and server) per second:", "",
             "| backend | handshake | 1 thread | 2 threads | **scaling** | per CPU-second, 1 → 2 threads |",
             "|---|---|---|---|---|---|"]
    for backend in ("openssl", "gnutls"):
        for resume in (False, True):
            one, two = memory[(backend, resume, 1)], memory[(backend, resume, 2)]
            kind = "resumed (with full ones where no ticket came)" if resume else "full"
            lines.append(f"| {backend} | {kind} | {med(one, 0):,.0f} | {med(two, 0):,.0f} | "
                         f"**{med(two, 0) / med(one, 0):.2f}×** | {med(one, 1):,.0f} → {med(two, 1):,.0f} |")
    lines += ["", "NIO server (`TLSKitHTTPBench`), new connections from wrk (16 at a time, full TLS 1.3 "
              "handshakes), server CPU per connection:", "",
              "| backend | 1 event loop | 2 event loops | CPU per connection, 2 / 1 | futex calls per connection, 1 / 2 loops "
              "| context switches per connection, 1 / 2 loops |", "|---|---|---|---|---|---|"]
    for backend in ("openssl", "gnutls"):
        one, two = server[(backend, 1)], server[(backend, 2)]
        lines.append(f"| {backend} | {med(one, 1):,.0f} µs ({med(one, 0):,.0f}/s) | {med(two, 1):,.0f} µs "
                     f"({med(two, 0):,.0f}/s) | {med(two, 1) / med(one, 1):.2f} | {med(one, 2):.3f} / {med(two, 2):.3f} "
                     f"| {med(one, 3):.2f} / {med(two, 3):.2f} |")
    lines += ["", "Futex calls are where a contended lock would put a thread to sleep; context switches show "
              "the two event loops and wrk sharing two cores, the likely cause of the extra CPU per connection."]
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(HERE, "results", "scaling.md"), "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
