#!/usr/bin/env python3
"""Runs TLSKit's benchmark next to the raw C OpenSSL reference in the same invocation.

The references are the project's own C programs in reference/ (tls_memory.c: both ends in
memory; tls_loopback.c: loopback TCP), built here with cc; TLSKitBench runs the same
workloads through TLSKit's public API. Runs alternate between the two (round-robin) so
machine noise hits both alike; the table quotes medians and the ratio TLSKit / C of
per-CPU-second rates. With --callgrind, instruction counts too. Everything it needs is in
this repository; it works from a clone in a folder of any name.

    python3 Benchmarks/run.py [--reps 5] [--callgrind]
    python3 Benchmarks/run.py --quick      # smoke run: 1 rep, fewer iterations, results/latest.md untouched
    python3 Benchmarks/run.py --check [--quick] [--update-baseline]
    python3 Benchmarks/run.py --only resumed,ChaCha   # just the timed rows whose title has one of these

--check is the regression guard: it counts instructions with callgrind (deterministic, unlike
times on a shared machine) for TLSKit on each backend and for the C reference in the same
run, and fails when a ratio TLSKit / C is more than 5% above results/baseline.json (the
ratio, not the count, so a different OpenSSL build moves both sides). --update-baseline
writes the measured ratios as the new baseline (commit it with the change that explains it);
--add-to-baseline adds only the rows the baseline does not have yet (new workloads), leaving
the others at their committed values.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
WORK = os.path.join(HERE, "work")
CERTS = os.path.join(WORK, "certs")
REFERENCE = os.path.join(HERE, "reference")
C_BIN = os.path.join(WORK, "tls_memory")
C_SOCKET_BIN = os.path.join(WORK, "tls_loopback")
SWIFT_BIN = os.path.join(HERE, ".build", "release", "TLSKitBench")
BACKENDS = ["openssl", "gnutls"]
GLIBC_TUNABLES = "glibc.cpu.x86_rep_movsb_threshold=1073741824:glibc.cpu.x86_rep_stosb_threshold=1073741824"


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def make_certs():
    os.makedirs(CERTS, exist_ok=True)
    if os.path.exists(os.path.join(CERTS, "rsa-leaf.key")):
        return
    for name, args in (("ecdsa", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                       ("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])):
        p = lambda suffix: os.path.join(CERTS, f"{name}-{suffix}")
        sh("openssl", "genpkey", *args, "-out", p("ca.key"))
        sh("openssl", "req", "-x509", "-new", "-key", p("ca.key"), "-sha256", "-days", "365",
           "-subj", f"/CN=bench {name} CA", "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign", "-out", p("ca.pem"))
        sh("openssl", "genpkey", *args, "-out", p("leaf.key"))
        sh("openssl", "req", "-new", "-key", p("leaf.key"), "-subj", "/CN=localhost", "-out", p("leaf.csr"))
        with open(p("leaf.ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n")
        sh("openssl", "x509", "-req", "-in", p("leaf.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
           "-CAcreateserial", "-sha256", "-days", "365", "-extfile", p("leaf.ext"), "-out", p("leaf.pem"))


def build():
    os.makedirs(WORK, exist_ok=True)
    for binary, source in ((C_BIN, "tls_memory.c"), (C_SOCKET_BIN, "tls_loopback.c")):
        sh("cc", "-O2", "-g", "-Wall", "-o", binary, os.path.join(REFERENCE, source), "-lssl", "-lcrypto", "-lpthread")
    subprocess.run(["swift", "build", "-c", "release", "--package-path", HERE, "--product", "TLSKitBench"], check=True)
    shutil.copy(SWIFT_BIN, SWIFT_BIN + ".nodebug")
    sh("strip", "--strip-debug", SWIFT_BIN + ".nodebug")  # valgrind 3.19 cannot read Swift's DWARF


def run(binary, args):
    out = sh(binary, *args, "--certdir", CERTS).stdout.strip().splitlines()[-1]
    return json.loads(out)


def callgrind(binary, args, collect_at_start=True):
    """Instructions collected. collect_at_start=False: only those the program itself switches
    collection on for (CALLGRIND_TOGGLE_COLLECT around its measured part, as `resume` does)."""
    env = dict(os.environ, GLIBC_TUNABLES=GLIBC_TUNABLES)
    collect = [] if collect_at_start else ["--collect-atstart=no"]
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *collect, binary, *args,
                          "--certdir", CERTS], env=env, text=True, capture_output=True, check=True).stderr
    for line in out.splitlines():
        if "Collected :" in line:
            return int(line.split(":")[-1].strip())
    raise RuntimeError(out)


def instruction_counts(quick):
    """Instructions per handshake and per bulk byte, C reference first, then each backend:
    the difference between a run with work and one without, so start-up cancels out.
    Resumed handshakes count only the measured connections (collection switched on for them
    by the programs; the unmeasured full handshake that hands out each ticket is not counted)."""
    iters, mib = (50, 16) if quick else (200, 64)
    instr = []
    for title, c_args, s_args, at_start in (
            ("handshake ECDSA", ["handshake", "--cert", "ecdsa"], ["handshake", "--cert", "ecdsa"], True),
            ("handshake RSA", ["handshake", "--cert", "rsa"], ["handshake", "--cert", "rsa"], True),
            ("handshake ECDSA resumed", ["resume", "--cert", "ecdsa"], ["resume", "--cert", "ecdsa"], False)):
        per = []
        for binary, args in [(C_BIN, c_args)] + [(SWIFT_BIN + ".nodebug", s_args + ["--backend", b]) for b in BACKENDS]:
            a = callgrind(binary, args + ["--warmup", "20", "--iters", str(iters)], at_start)
            b = callgrind(binary, args + ["--warmup", "20", "--iters", "0"], at_start)
            if a - b <= 0:
                raise RuntimeError(f"{title}: nothing counted for {binary} {args} (valgrind/callgrind.h missing at build?)")
            per.append((a - b) / iters)
        instr.append((title, *per))
    for title, c_args, s_args in (("bulk AES-128-GCM", ["bulk", "--cipher", "aes128"], ["bulk"]),
                                  ("bulk ChaCha20-Poly1305", ["bulk", "--cipher", "chacha20"], ["bulk", "--cipher", "chacha20"])):
        per = []
        for binary, args in [(C_BIN, c_args)] + [(SWIFT_BIN + ".nodebug", s_args + ["--backend", b]) for b in BACKENDS]:
            a = callgrind(binary, args + ["--warmup-mib", "1", "--mib", str(mib)])
            b = callgrind(binary, args + ["--warmup-mib", "1", "--mib", "0"])
            per.append((a - b) / (mib << 20))
        instr.append((title + " (per byte)", *per))
    # Loopback TCP: the C socket reference (server thread + client, SSL_set_fd) against a
    # TLSKitNIO server and a TLSSocket client in one process. User-space instructions only
    # (the kernel's share is not counted); the difference of two sizes, so the handshake and
    # start-up cancel out. Stable to about 1% between runs, unlike the wall-clock row.
    small, large = (4, 20) if quick else (8, 40)
    per = []
    for binary, args in [(C_SOCKET_BIN, ["bulk", "--cipher", "aes128"])] + \
            [(SWIFT_BIN + ".nodebug", ["socket-bulk", "--backend", b]) for b in BACKENDS]:
        a = callgrind(binary, args + ["--mib", str(large)])
        b = callgrind(binary, args + ["--mib", str(small)])
        per.append((a - b) / ((large - small) << 20))
    instr.append(("loopback bulk AES-128-GCM (per byte)", *per))
    return instr


BASELINE = os.path.join(HERE, "results", "baseline.json")
NOTES_MARKER = "<!-- notes below: written by hand, kept when run.py rewrites the tables above -->"
TOLERANCE = 1.05


def check(quick, update, add):
    """The regression guard: instruction ratios TLSKit / C against the committed baseline."""
    instr = instruction_counts(quick)
    measured = {f"{title} [{backend}]": s_i / c_i
                for title, c_i, *s_is in instr for backend, s_i in zip(BACKENDS, s_is)}
    if add:
        with open(BASELINE) as f:
            current = json.load(f)
        added = {k: round(v, 4) for k, v in measured.items() if k not in current["ratios"]}
        current["ratios"].update(added)
        with open(BASELINE, "w") as f:
            json.dump(current, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"added to {BASELINE}: " + (", ".join(f"{k} {v}" for k, v in sorted(added.items())) or "nothing"))
        update = False
    if update:
        with open(BASELINE, "w") as f:
            json.dump({"tolerance": TOLERANCE, "ratios": {k: round(v, 4) for k, v in measured.items()}}, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"baseline written: {BASELINE}")
        return 0
    if not os.path.exists(BASELINE):
        print(f"no baseline at {BASELINE}: run with --update-baseline and commit it")
        return 1
    with open(BASELINE) as f:
        baseline = json.load(f)["ratios"]
    worse = []
    print(f"{'workload':44} {'baseline':>9} {'now':>9} {'change':>8}")
    for key, ratio in sorted(measured.items()):
        base = baseline.get(key)
        if base is None:
            print(f"{key:44} {'-':>9} {ratio:9.4f} {'new':>8}")
            worse.append(f"{key}: not in the baseline (a new row: run --add-to-baseline)")
            continue
        change = ratio / base - 1
        print(f"{key:44} {base:9.4f} {ratio:9.4f} {change:+8.1%}")
        if ratio > base * TOLERANCE:
            worse.append(f"{key}: ratio {ratio:.4f} is {change:+.1%} against the baseline {base:.4f} (limit +{TOLERANCE - 1:.0%})")
    for key in sorted(set(baseline) - set(measured)):
        worse.append(f"{key}: in the baseline but not measured")
    if worse:
        print("instruction-count regression:\n  " + "\n  ".join(worse))
        return 1
    print(f"instruction counts within {TOLERANCE - 1:.0%} of the baseline")
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=None, help="runs per workload (default 5, 1 with --quick)")
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--check", action="store_true", help="the callgrind regression guard against results/baseline.json")
    parser.add_argument("--update-baseline", action="store_true", help="with --check: write the measured ratios as the baseline")
    parser.add_argument("--add-to-baseline", action="store_true",
                        help="with --check: add the rows the baseline lacks, keep the others (then checks them all)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: fewer iterations, 1 rep unless --reps, results/latest.md left alone")
    parser.add_argument("--only", default=None,
                        help="comma-separated words: run only the timed rows whose title contains one (no loopback "
                             "or heap rows unless named, no callgrind); prints, results/latest.md left alone")
    opts = parser.parse_args()
    if opts.reps is None:
        opts.reps = 1 if opts.quick else 5
    make_certs()
    build()
    if opts.check:
        raise SystemExit(check(opts.quick, opts.update_baseline, opts.add_to_baseline))

    iters = "200" if opts.quick else "1000"
    mib = "128" if opts.quick else "1024"
    socket_mib = "64" if opts.quick else "256"
    words = [w for w in (opts.only or "").split(",") if w]
    wanted = lambda title: not words or any(w.lower() in title.lower() for w in words)
    workloads = [
        ("handshake, ECDSA P-256, full", ["handshake", "--cert", "ecdsa", "--iters", iters], ["handshake", "--cert", "ecdsa", "--iters", iters], "hs_per_cpu_s", "hs/CPU-s"),
        ("handshake, RSA-2048, full", ["handshake", "--cert", "rsa", "--iters", iters], ["handshake", "--cert", "rsa", "--iters", iters], "hs_per_cpu_s", "hs/CPU-s"),
        ("handshake, ECDSA P-256, resumed", ["resume", "--cert", "ecdsa", "--iters", iters], ["resume", "--cert", "ecdsa", "--iters", iters], "hs_per_cpu_s", "hs/CPU-s"),
        ("bulk, 16 KiB writes, AES-128-GCM", ["bulk", "--cipher", "aes128", "--mib", mib], ["bulk", "--mib", mib], "MBps_cpu", "MB/CPU-s"),
        ("bulk, 16 KiB writes, ChaCha20-Poly1305", ["bulk", "--cipher", "chacha20", "--mib", mib], ["bulk", "--cipher", "chacha20", "--mib", mib], "MBps_cpu", "MB/CPU-s"),
    ]
    rows = []
    for title, c_args, s_args, key, unit in filter(lambda w: wanted(w[0]), workloads):
        vals = {"c": [], "openssl": [], "gnutls": []}
        for _ in range(opts.reps):
            vals["c"].append(run(C_BIN, c_args)[key])
            for backend in BACKENDS:
                vals[backend].append(run(SWIFT_BIN, s_args + ["--backend", backend])[key])
        c_med = statistics.median(vals["c"])
        for backend in BACKENDS:
            med = statistics.median(vals[backend])
            rows.append((title, backend, unit, c_med, med, med / c_med, min(vals[backend]), max(vals[backend])))
            print(f"{title} [{backend}]: C {c_med:,.0f} {unit}, TLSKit {med:,.0f} {unit}, ratio {med / c_med:.3f}", flush=True)

    # Loopback TCP: the C socket reference against a TLSKitNIO server with a TLSSocket client.
    for title, c_args, s_args, key, unit in filter(lambda w: wanted(w[0]), [
        ("loopback handshake, ECDSA (NIO server)", ["handshake", "--cert", "ecdsa", "--iters", iters], ["socket-handshake", "--cert", "ecdsa", "--iters", iters], "hs_per_s", "hs/s"),
        ("loopback bulk, 16 KiB writes (NIO server)", ["bulk", "--cipher", "aes128", "--mib", socket_mib], ["socket-bulk", "--mib", socket_mib], "MBps", "MB/s"),
    ]):
        c_vals, s_vals = [], []
        for _ in range(opts.reps):
            c_vals.append(run(C_SOCKET_BIN, c_args)[key])
            s_vals.append(run(SWIFT_BIN, s_args + ["--backend", "openssl"])[key])
        c_med, s_med = statistics.median(c_vals), statistics.median(s_vals)
        rows.append((title, "openssl", unit, c_med, s_med, s_med / c_med, min(s_vals), max(s_vals)))
        print(f"{title}: C {c_med:,.0f} {unit}, TLSKit {s_med:,.0f} {unit}, ratio {s_med / c_med:.3f}", flush=True)

    heap = wanted("idle client+server pair, heap")
    if heap:
        c_mem = [run(C_BIN, ["memory", "--release-buffers", "1"]) for _ in range(3)]
        c_heap = statistics.median(m["heap_per_pair"] for m in c_mem)
        s_heap = {b: statistics.median(run(SWIFT_BIN, ["memory", "--backend", b])["heap_per_pair"] for _ in range(3)) for b in BACKENDS}

    instr = instruction_counts(quick=False) if opts.callgrind and not words else []

    lines = ["| workload | backend | raw C OpenSSL (median) | TLSKit (median; min–max) | ratio TLSKit / C |",
             "|---|---|---|---|---|"]
    for title, backend, unit, c_med, s_med, ratio, lo, hi in rows:
        lines.append(f"| {title} | {backend} | {c_med:,.0f} {unit} | {s_med:,.0f} {unit} ({lo:,.0f}–{hi:,.0f}) | **{ratio:.3f}** |")
    for backend in BACKENDS if heap else []:
        lines.append(f"| idle client+server pair, heap | {backend} | {c_heap:,.0f} B (SSL_MODE_RELEASE_BUFFERS) | {s_heap[backend]:,.0f} B | {s_heap[backend] / c_heap:.3f} |")
    if instr:
        lines += ["", "| callgrind instructions | raw C | " + " | ".join(f"TLSKit {b}" for b in BACKENDS) + " | ratios |",
                  "|---|---|" + "---|" * len(BACKENDS) + "---|"]
        for title, c_i, *s_is in instr:
            fmt = (lambda v: f"{v / 1e6:.2f} M") if "per byte" not in title else (lambda v: f"{v:.2f}")
            lines.append(f"| {title} | {fmt(c_i)} | " + " | ".join(fmt(v) for v in s_is) + " | "
                         + ", ".join(f"{v / c_i:.3f}" for v in s_is) + " |")
    table = "\n".join(lines)
    print()
    print(table)
    if opts.quick or words:
        return  # a smoke run's figures, or some rows only, are not results
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    latest = os.path.join(HERE, "results", "latest.md")
    notes = ""  # what follows NOTES_MARKER in latest.md is written by hand and kept
    if os.path.exists(latest):
        with open(latest) as f:
            text = f.read()
        if NOTES_MARKER in text:
            notes = "\n" + text[text.index(NOTES_MARKER):]
    with open(latest, "w") as f:
        f.write(f"Runs: {opts.reps} per workload, round-robin; {sh('openssl', 'version').stdout.strip()}\n\n{table}\n{notes}")


if __name__ == "__main__":
    main()
