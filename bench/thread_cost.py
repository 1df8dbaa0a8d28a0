#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What a serving thread costs: one cppapi process behind nginx's keep-alive config, at
several thread counts, side by side in one run (rounds interleaved).

    bench/thread_cost.py                                   # build/bench-threads, threads 1 2 8
    bench/thread_cost.py --cppapi old=/tmp/cppapi-old --cppapi new=build/bench-threads/cppapi

Per run: req/s, backend CPU per request (µs, from /proc ticks), and, when `perf` is
there, system calls and context switches per request (`perf stat -p`: exact counts, so
they hold on a busy machine where req/s does not). With --slow-mix, a second wrk sends
`test/sleep&20` to a tenth as many connections next to the fast calls, and the fast calls'
p99 is compared with the run without it (head-of-line blocking shows there). With
--profile DIR, each run is also recorded with `perf record -g` into DIR/<run>.data
(`perf report -i DIR/<run>.data --no-children --sort sym` shows where the CPU goes).
Writes bench/THREADS.md (or --out). Standard library only; uses bench.py's helpers.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as b  # noqa: E402  (bench.py: processes, nginx, wrk, /proc helpers)

BUILD = b.ROOT / "build/bench-threads"
OPTIONS = ["-DCMAKE_BUILD_TYPE=Release", "-DCPPAPI_BUILD_TESTS=OFF", "-DCPPAPI_TEST_CALLS=ON"]
FAST = "/api/add&2&3"
SLOW = "/api/test/sleep&20"


def perf_counts(pid: int, procs: b.Processes, out: Path) -> subprocess.Popen | None:
    if not shutil.which("perf"):
        return None
    return procs.start(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter,context-switches",
                        "-p", str(pid), "-o", str(out)], out.with_suffix(".log"))


def read_perf(out: Path) -> dict[str, int]:
    counts = {}
    for line in out.read_text(errors="replace").splitlines() if out.exists() else []:
        fields = line.split(",")
        if len(fields) > 2 and fields[0].isdigit():
            counts[fields[2]] = int(fields[0])
    return counts


def one_run(args, label: str, binary: Path, threads: int, slow: bool, logs: Path) -> dict:
    name = f"{label}-t{threads}{'-slow' if slow else ''}"
    with tempfile.TemporaryDirectory(prefix="cppapi-threads.") as tmp, b.Processes(grace=10) as procs:
        run = Path(tmp)
        sock, port = run / "cppapi.sock", b.free_port()
        backend = procs.start(b.cppapi_serve(binary, sock, threads, "--processes", "0", "--socket-mode", "0666"),
                              logs / f"{name}-cppapi.log")
        b.wait_until(sock.is_socket, 10, f"cppapi made no socket ({logs / f'{name}-cppapi.log'})")
        (run / "www").mkdir()
        b.start_nginx(procs, run / "nginx", b.keepalive_site(sock, port, run / "www"), logs, logs / f"{name}-nginx.log")
        b.wait_until(lambda: b.answers(port, FAST), 10, f"nginx does not answer ({logs})")
        b.run_wrk(procs, f"http://127.0.0.1:{port}{FAST}", args.connections, 1, 2, logs / f"{name}-warmup.txt")
        slow_wrk = None
        if slow:
            slow_wrk = procs.start(b.wrk_argv(f"http://127.0.0.1:{port}{SLOW}", max(1, args.connections // 10),
                                              args.duration + 1, 5), logs / f"{name}-wrk-slow.txt")
        ticks = b.cpu_ticks(backend.pid)
        perf = perf_counts(backend.pid, procs, logs / f"{name}-perf.csv")
        record = None
        if args.profile:
            Path(args.profile).mkdir(parents=True, exist_ok=True)
            record = procs.start(["perf", "record", "-g", "-o", str(Path(args.profile) / f"{name}.data"),
                                  "-p", str(backend.pid)], logs / f"{name}-record.log")
        fast = b.run_wrk(procs, f"http://127.0.0.1:{port}{FAST}", args.connections, args.duration, 2,
                         logs / f"{name}-wrk.txt")
        for counter in (perf, record):
            if counter:
                counter.send_signal(2)  # SIGINT: perf writes its counts or samples and exits
                counter.wait(timeout=30)
        ticks = b.cpu_ticks(backend.pid) - ticks  # includes the slow calls' few µs when mixed
        if slow_wrk:
            procs.stop(slow_wrk)
        if fast is None or fast.requests == 0:
            raise b.BenchError(f"wrk gave no result ({logs / f'{name}-wrk.txt'})")
        counts = read_perf(logs / f"{name}-perf.csv")
        return {"label": label, "threads": threads, "slow": slow, "rps": fast.rps, "p99": fast.p99_us,
                "errors": fast.errors, "cpu_us": ticks * 1e6 / b.CLK_TCK / fast.requests,
                "syscalls": counts.get("raw_syscalls:sys_enter", 0) / fast.requests if counts else None,
                "switches": counts.get("context-switches", 0) / fast.requests if counts else None}


def report(args, runs: list[dict], load_before: str) -> str:
    def med(label, threads, slow, key):
        return b.median([r[key] for r in runs if (r["label"], r["threads"], r["slow"]) == (label, threads, slow)
                         and r[key] is not None])

    def num(v, fmt):
        return "-" if v is None else format(v, fmt)
    labels = list(dict.fromkeys(r["label"] for r in runs))
    rows = []
    for label in labels:
        one = med(label, args.threads[0], False, "rps")
        for t in args.threads:
            rps = med(label, t, False, "rps")
            row = [label, t, num(rps, ",.0f"), b.ratio(rps, one), num(med(label, t, False, "cpu_us"), ".1f"),
                   num(med(label, t, False, "syscalls"), ".2f"), num(med(label, t, False, "switches"), ".2f"),
                   b.fmt_us(med(label, t, False, "p99")), sum(r["errors"] for r in runs if r["label"] == label)]
            if args.slow_mix:
                alone, mixed = med(label, t, False, "p99"), med(label, t, True, "p99")
                row += [b.fmt_us(mixed), b.ratio(mixed, alone)]
            rows.append(row)
    header = ["cppapi", "threads", "req/s", f"× {args.threads[0]} thread", "CPU µs/req", "syscalls/req",
              "switches/req", "p99", "errors"] + (["p99 with slow calls", "× alone"] if args.slow_mix else [])
    binaries = "\n".join(f"- `{label}`: `{path}`" for label, path in args.binaries)
    return "\n".join([
        "# Thread cost\n", b.provenance(load_before, b.loadavg()), f"{b.machine()}.\n",
        f"One cppapi process (`--processes 0`) behind nginx (1 worker) with the shipped keep-alive config; "
        f"wrk 1 thread, {args.connections} connections, `{FAST}`, {args.duration:g} s per run, median of "
        f"{args.rounds} interleaved rounds. CPU is the backend's (from /proc); system calls and context switches "
        "are exact counts (`perf stat -p`), per request.\n", binaries + "\n",
        b.md_table(header, rows, right=set(range(1, len(header)))),
        "" if not args.slow_mix else
        f"\n`p99 with slow calls`: a second wrk keeps {max(1, args.connections // 10)} connections busy with "
        f"`{SLOW}` during the run; `× alone` is that p99 over the p99 without them.\n"])


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cppapi", action="append", default=[], metavar="LABEL=PATH",
                   help="a cppapi with the test calls (repeatable); default: build build/bench-threads")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2, 8])
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--duration", type=float, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--slow-mix", action="store_true", help="also run each with slow calls alongside")
    p.add_argument("--out", help="write here instead of bench/THREADS.md")
    p.add_argument("--profile", metavar="DIR", help="also `perf record -g` each run into DIR/<run>.data")
    p.add_argument("--log-dir", help="default build/bench-logs/<time>-threads")
    args = p.parse_args(argv)
    b.require("nginx", "wrk")
    logs = b.add_log_dir(args, "threads")
    if args.cppapi:
        args.binaries = [tuple(spec.split("=", 1)) if "=" in spec else (Path(spec).name, spec) for spec in args.cppapi]
    else:
        args.binaries = [("cppapi", str(b.cppapi_binary(None, BUILD, OPTIONS, "test/sleep", logs)))]
    load_before, runs = b.loadavg(), []
    for rnd in range(args.rounds):
        for label, path in args.binaries:
            for t in args.threads:
                for slow in ([False, True] if args.slow_mix else [False]):
                    r = one_run(args, label, Path(path).resolve(), t, slow, logs)
                    b.log(f"round {rnd + 1}: {label} {t} threads{' + slow' if slow else ''}: {r['rps']:,.0f} req/s, "
                          f"{r['cpu_us']:.1f} µs CPU/req, syscalls/req {r['syscalls']}, switches/req {r['switches']}")
                    runs.append(r)
    b.write_out(Path(args.out).resolve() if args.out else b.BENCH / "THREADS.md", report(args, runs, load_before))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except b.BenchError as error:
        print(f"thread_cost.py: {error}", file=sys.stderr)
        sys.exit(1)
