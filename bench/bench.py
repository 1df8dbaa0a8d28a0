#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cppAPI benchmarks: one driver for the load, soak, pool and micro-benchmark runs.

    bench/bench.py load [--quick]   A-E side by side behind one nginx -> bench/RESULTS.md, results.png
    bench/bench.py soak             60 s mixed load, worker memory over time -> bench/SOAK.md
    bench/bench.py pool             processes x threads scaling -> bench/pool/RESULTS.md
    bench/bench.py micro [--quick]  Google Benchmark table at the end of bench/RESULTS.md

Standard library only. Everything listens on 127.0.0.1 or on unix sockets in a temp dir;
every process started here is stopped by PID when the command ends, also on Ctrl-C,
SIGTERM or an error (Processes, an ExitStack). Configs are the templates in
bench/templates/ and the shipped deploy/nginx/ files, with paths and ports substituted.
Logs of every run stay in build/bench-logs/<time>-<command>/. See bench/README.md.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TEMPLATES = BENCH / "templates"
IS_ROOT = os.geteuid() == 0
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A failure with a message for the user; main() prints it and exits 1."""


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} bench: {message}", file=sys.stderr, flush=True)


def wait_until(predicate, timeout: float, what: str, step: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise BenchError(f"{what} (waited {timeout:.0f} s)")


# ---- processes ---------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def children(pid: int) -> list[int]:
    """PIDs whose parent is `pid`, from /proc/*/stat."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(entry.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return sorted(found)


class Processes(contextlib.ExitStack):
    """Starts processes by argv and stops each by PID when the block ends, however it ends.

    A process gets its own session, so Ctrl-C reaches only this script, which then stops
    everything in reverse order of start: SIGTERM to the process, up to `grace` seconds for
    it and its children, then SIGKILL to whatever is left."""

    def __init__(self, grace: float = 5.0):
        super().__init__()
        self.grace = grace

    def start(self, argv: list[str], log_path: Path, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        with open(log_path, "ab") as out:
            proc = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True,
                                    env={**os.environ, **env} if env else None)
        self.callback(self.stop, proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is not None:
            return
        family = [proc.pid] + children(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while time.monotonic() < deadline and (proc.poll() is None or any(alive(p) for p in family[1:])):
            time.sleep(0.05)
        for pid in family:
            if alive(pid):
                log(f"process {pid} did not stop on SIGTERM: SIGKILL")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        proc.wait()


def exit_description(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"signal {-code} ({signal.Signals(-code).name})"
    return f"exit status {code}"


# ---- ports -------------------------------------------------------------------------------

_ports_given: set[int] = set()


def free_port() -> int:
    """A loopback TCP port nobody listens on, below the ephemeral range (so no client
    connection of wrk's takes it between now and the server's bind)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(1000):
        port = random.randrange(10000, max(low, 10001))
        if port in _ports_given:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise BenchError("no free loopback port found")


# ---- /proc readers -----------------------------------------------------------------------


def smaps(pid: int) -> dict[str, int]:
    """kB per field of /proc/PID/smaps_rollup (Rss, Pss, ...); empty when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    return {f[0].rstrip(":"): int(f[1]) for f in (line.split() for line in text.splitlines()[1:]) if len(f) >= 2}


def cpu_ticks(pid: int, with_reaped_children: bool = False) -> int:
    """utime + stime of a process (all threads) from /proc/PID/stat, in clock ticks; plus
    cutime + cstime (children it has reaped) if asked. 0 when the process is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    ticks = int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return ticks + (int(fields[13]) + int(fields[14]) if with_reaped_children else 0)


def backend_ticks(master: int) -> int:
    """CPU ticks of a backend: the process, the children it reaped, the children alive now."""
    return cpu_ticks(master, with_reaped_children=True) + sum(cpu_ticks(c) for c in children(master))


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_line() -> list[int]:
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    mem_kb = int(re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.M)[1])
    os_name = re.search(r'^PRETTY_NAME="?([^"\n]*)', Path("/etc/os-release").read_text(), re.M)
    return (f"{os.cpu_count()} cores ({model[1] if model else '?'}), {mem_kb / 1048576:.1f} GiB RAM, "
            f"Linux {os.uname().release}, {os_name[1] if os_name else '?'}")


# ---- templates and shipped files ---------------------------------------------------------


def render(template: str, **values) -> str:
    """bench/templates/<template> with every @NAME@ replaced; a placeholder left over or a
    value the template does not use is an error (they would drift apart silently)."""
    text = (TEMPLATES / template).read_text()
    for name, value in values.items():
        if f"@{name}@" not in text:
            raise BenchError(f"templates/{template} has no @{name}@")
        text = text.replace(f"@{name}@", str(value))
    if left := re.search(r"@[A-Z_]+@", text):
        raise BenchError(f"templates/{template}: {left[0]} not substituted")
    return text


def shipped(relative: str, substitutions: list[tuple[str, str]]) -> str:
    """A file of deploy/ with paths and ports substituted, as tests/integration/harness.cpp
    deploy_file() does: each string replaced must be in the file, or the bench is out of date."""
    path = ROOT / "deploy" / relative
    text = path.read_text()
    for old, new in substitutions:
        if old not in text:
            raise BenchError(f"{path} no longer contains {old!r}, which bench.py replaces: update bench.py")
        text = text.replace(old, new)
    return text


def cppapi_location(sock: Path) -> str:
    return shipped("nginx/cppapi.conf", [("unix:/run/cppapi/cppapi.sock", f"unix:{sock}")])


def keepalive_site(sock: Path, port: int, www: Path) -> str:
    """The shipped keep-alive site with the substitutions of tests/integration/keepalive_test.cpp."""
    return shipped("nginx/cppapi-keepalive.conf", [
        ("server unix:/run/cppapi/cppapi.sock;", f"server unix:{sock};"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("    listen [::]:80;\n", ""),
        ("root /var/www/cppapi;", f'root "{www}";')])


# ---- markdown and provenance -------------------------------------------------------------


def md_table(header: list[str], rows: list[list], right: set[int] = frozenset()) -> str:
    """A markdown table; columns whose index is in `right` are right-aligned."""
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def git_describe() -> str:
    try:
        return subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"}).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def command_line() -> str:
    script = Path(sys.argv[0]).resolve()
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return shlex.join([str(shown)] + sys.argv[1:])


def provenance(load_before: str, load_after: str | None = None) -> str:
    """The line every results file starts with: command, commit, date, load average."""
    load = f"{load_before} / {load_after} (before / after; 1, 5, 15 min)" if load_after else f"{load_before}"
    return (f"Made by `{command_line()}` at commit `{git_describe()}` on {time.strftime('%Y-%m-%d %H:%M %Z')}; "
            f"load average {load}.\n")


def fmt_us(us: float | None) -> str:
    if us is None:
        return "—"
    if us < 1000:
        return f"{us:.0f} µs"
    return f"{us / 1000:.2f} ms" if us < 1e6 else f"{us / 1e6:.2f} s"


def fmt_mib(kb: float | None) -> str:
    return "—" if kb is None else f"{kb / 1024:.2f} MiB"


def median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}"


# ---- wrk ---------------------------------------------------------------------------------


@dataclasses.dataclass
class WrkResult:
    requests: int = 0
    duration_us: int = 0
    rps: float = 0.0
    p50_us: int | None = None
    p99_us: int | None = None
    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0
    non2xx: int = 0
    statuses: str = "n/a"  # "200:N,404:N" with BENCH_STATUSES=1

    @property
    def errors(self) -> int:
        return self.connect + self.read + self.write + self.timeout + self.non2xx

    def by_status(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in (p.split(":") for p in self.statuses.split(",") if ":" in p)}


def parse_wrk(text: str) -> WrkResult | None:
    """The BENCH line of count.lua; without it (a wrk too old for done(), a crash at the end)
    the numbers of wrk's own summary. None when neither is there."""
    lines = [l for l in text.splitlines() if l.startswith("BENCH ")]
    if lines:
        v = dict(kv.split("=", 1) for kv in lines[-1].split()[1:])
        ints = {f.name for f in dataclasses.fields(WrkResult) if f.type.startswith("int")}
        return WrkResult(**{k: (int(val) if k in ints else float(val) if k == "rps" else val)
                            for k, val in v.items() if k in {f.name for f in dataclasses.fields(WrkResult)}})
    total = re.search(r"^\s*(\d+) requests in", text, re.M)
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    if not (total and rps):
        return None
    unit = {"us": 1, "ms": 1e3, "s": 1e6}

    def pct(p: str) -> int | None:
        m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        return int(float(m[1]) * unit[m[2]]) if m else None
    result = WrkResult(requests=int(total[1]), rps=float(rps[1]), p50_us=pct("50"), p99_us=pct("99"))
    if sock := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text):
        result.connect, result.read, result.write, result.timeout = map(int, sock.groups())
    if non := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        result.non2xx = int(non[1])
    return result


def wrk_argv(url: str, connections: int, seconds: float, timeout: float, latency: bool = True) -> list[str]:
    return (["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", f"{timeout:g}s"]
            + (["--latency"] if latency else []) + ["-s", str(BENCH / "count.lua"), url])


def run_wrk(procs: Processes, url: str, connections: int, seconds: float, timeout: float, out: Path,
            env: dict[str, str] | None = None, latency: bool = True) -> WrkResult | None:
    """One wrk run, its output kept in `out`; None if wrk gave no result (see `out`)."""
    proc = procs.start(wrk_argv(url, connections, seconds, timeout, latency), out, env=env)
    try:
        proc.wait(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        log(f"wrk still running {seconds + 30:.0f} s after it should have ended: stopping it")
    procs.stop(proc)
    return parse_wrk(out.read_text(errors="replace"))


# ---- HTTP probes -------------------------------------------------------------------------


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, int, bytes]:
    """(status, reply bytes on the wire, body) of one keep-alive GET, as wrk sends it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"^content-length:\s*(\d+)", head, re.I | re.M)
        while length and len(body) < int(length[1]) and (chunk := conn.recv(65536)):
            body += chunk
    return int(head.split(b" ", 2)[1]), len(head) + 4 + len(body), body


def answers(port: int, path: str, status: int = 200, body: bytes | None = None) -> bool:
    try:
        got, _, got_body = http_get(port, path, timeout=2)
        return got == status and (body is None or got_body == body)
    except (OSError, ValueError, IndexError):
        return False


# ---- building ----------------------------------------------------------------------------


def cmake_build(build_dir: Path, options: list[str], targets: list[str], log_path: Path) -> None:
    log(f"building {' '.join(targets)} in {build_dir.relative_to(ROOT)} (log: {log_path})")
    with open(log_path, "ab") as out:
        for argv in (["cmake", "-S", ROOT, "-B", build_dir, "-G", "Ninja", *options],
                     ["cmake", "--build", build_dir, "-j2", "--target", *targets]):
            if subprocess.run([str(a) for a in argv], stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
                raise BenchError(f"build failed:\n{tail}\n(full log: {log_path})")


BENCH_BUILD = ROOT / "build/bench"
BENCH_OPTIONS = ["-DCMAKE_BUILD_TYPE=Release", "-DCPPAPI_BUILD_TESTS=OFF", "-DCPPAPI_BENCH_CALLS=ON",
                 "-DCPPAPI_BENCH=ON"]
TEST_BUILD = ROOT / "build/test"  # `make check`'s build: the test calls (test/sleep) registered
TEST_OPTIONS = ["-DCPPAPI_TEST_CALLS=ON"]


def cppapi_binary(given: str | None, build_dir: Path, options: list[str], needs_call: str, logs: Path) -> Path:
    """`given`, or cppapi built in `build_dir`; either way it must list `needs_call`."""
    if given:
        binary = Path(given).resolve()
    else:
        cmake_build(build_dir, options, ["cppapi"], logs / "build.log")
        binary = build_dir / "cppapi"
    listed = subprocess.run([str(binary), "calls"], capture_output=True, text=True).stdout
    if not re.search(rf"^{re.escape(needs_call)}\(", listed, re.M):
        raise BenchError(f"{binary} has no call {needs_call} (build options: {' '.join(options)})")
    return binary


def cppapi_serve(binary: Path, sock: Path, threads: int, *extra) -> list[str]:
    return ([str(binary), "serve", "--listen", f"unix:{sock}", "--threads", str(threads), "--access-log", "false",
             *map(str, extra)] + (["--user", "root"] if IS_ROOT else []))


# ---- nginx -------------------------------------------------------------------------------


def start_nginx(procs: Processes, prefix: Path, servers: str, logs: Path, http_error_log: Path) -> subprocess.Popen:
    """nginx (1 worker) with `servers` inside http { }, its files under `prefix`."""
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    shutil.copy("/etc/nginx/fastcgi_params", prefix / "fastcgi_params")
    conf = prefix / "nginx.conf"
    conf.write_text(render("nginx.conf.in", USER_LINE="user root root;" if IS_ROOT else "", PREFIX=prefix,
                           ERROR_LOG=logs / "nginx-error.log", HTTP_ERROR_LOG=http_error_log, SERVERS=servers))
    shutil.copy(conf, logs / "nginx.conf")
    argv = ["nginx", "-p", f"{prefix}/", "-c", str(conf), "-e", str(logs / "nginx-error.log")]
    check = subprocess.run(argv + ["-t"], capture_output=True, text=True)
    if check.returncode != 0:
        raise BenchError(f"nginx rejected {logs / 'nginx.conf'}:\n{check.stderr}")
    return procs.start(argv, logs / "nginx.log")


def count_lines(path: Path) -> int:
    try:
        return len(path.read_bytes().splitlines())
    except OSError:
        return 0


def error_log_summary(path: Path, top: int = 8) -> list[str]:
    """The most frequent nginx error-log messages, times, ids and addresses removed."""
    counts: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        line = re.sub(r"^[\d/]+ [\d:]+ ", "", line)
        line = re.sub(r"\d+#\d+: (\*\d+ )?", "", line)
        line = re.sub(r"( while [a-z ]+)?, client: .*$", "", line)
        counts[line] = counts.get(line, 0) + 1
    return [f"{n:7d} {m}" for m, n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]]


def add_log_dir(args, name: str) -> Path:
    logs = Path(args.log_dir or ROOT / "build/bench-logs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{name}").resolve()
    logs.mkdir(parents=True, exist_ok=True)
    return logs


def require(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise BenchError(f"not found: {', '.join(missing)} (deploy/install-deps.sh bench installs them)")


def write_out(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    log(f"wrote {path}")


# ==== load: scenarios A-E side by side =====================================================

SCENARIOS = "ABCDEF"
URL_PATH = "/api/bench/hello"  # the same request line for every scenario
SHORT = {"A": "A nginx", "B": "B libfcgi", "C": "C PHP-FPM", "D": "D cppAPI", "E": "E cppAPI+keepalive",
         "F": "F cppAPI libfcgi"}


class LoadBench:
    """One nginx with a server per scenario, one backend per scenario, rounds interleaved."""

    def __init__(self, args, procs: Processes, logs: Path, run: Path):
        self.args, self.procs, self.logs, self.run = args, procs, logs, run
        self.title = {"A": "nginx return 200 (no upstream)", "B": f"bare libfcgi in C, {args.threads} threads",
                      "C": f"PHP-FPM static, {args.php_children} children", "D": "cppAPI, plain nginx config",
                      "E": "cppAPI, keep-alive config",
                      "F": "cppAPI with `--engine libfcgi`, plain nginx config"}
        self.port = {s: free_port() for s in SCENARIOS}
        self.sock = {s: run / f"{s.lower()}.sock" for s in "BCDEF"}
        self.backend: dict[str, subprocess.Popen] = {}
        self.incidents: list[str] = []
        self.runs: list[dict] = []

    def build(self) -> None:
        require("nginx", "wrk", "cc", "pkg-config")
        self.php_fpm = max(Path("/usr/sbin").glob("php-fpm*"), default=None,
                           key=lambda p: [int(n) for n in re.findall(r"\d+", p.name)])
        if not self.php_fpm:
            raise BenchError("no php-fpm in /usr/sbin (deploy/install-deps.sh bench)")
        self.cppapi = cppapi_binary(self.args.cppapi, BENCH_BUILD, BENCH_OPTIONS, "bench/hello", self.logs)
        BENCH_BUILD.mkdir(parents=True, exist_ok=True)
        self.hello = BENCH_BUILD / "hello_libfcgi"
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "fcgi"], capture_output=True, text=True,
                               check=True).stdout.split()
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-o", str(self.hello), str(BENCH / "hello_libfcgi.c"),
                        *flags, "-lpthread"], check=True)

    def configure(self) -> None:
        www = self.run / "www"
        www.mkdir()
        errs = {s: self.logs / f"nginx-{s}-error.log" for s in SCENARIOS}
        servers = render("load-servers.conf.in", PORT_A=self.port["A"], PORT_B=self.port["B"],
                         PORT_C=self.port["C"], ERROR_LOG_A=errs["A"], ERROR_LOG_B=errs["B"], ERROR_LOG_C=errs["C"],
                         SOCKET_B=self.sock["B"], SOCKET_C=self.sock["C"], HELLO_PHP=BENCH / "hello.php")
        servers += render("location-server.conf.in", PORT=self.port["D"], ERROR_LOG=errs["D"],
                          LOCATION=cppapi_location(self.sock["D"]))
        servers += keepalive_site(self.sock["E"], self.port["E"], www)
        servers += render("location-server.conf.in", PORT=self.port["F"], ERROR_LOG=errs["F"],
                          LOCATION=cppapi_location(self.sock["F"]))
        self.nginx = start_nginx(self.procs, self.run / "nginx", servers, self.logs, http_error_log=errs["E"])
        (self.run / "php").mkdir()
        users = "user = root\ngroup = root" if IS_ROOT else ""
        (self.run / "php/php-fpm.conf").write_text(render(
            "php-fpm.conf.in", PREFIX=self.run / "php", ERROR_LOG=self.logs / "php-fpm.log", USER_LINES=users,
            SOCKET=self.sock["C"], CHILDREN=self.args.php_children))

    def start_backend(self, s: str) -> None:
        if s == "A":
            return
        self.sock[s].unlink(missing_ok=True)
        if s == "B":
            argv = [self.hello, self.sock["B"], self.args.threads]
        elif s == "C":
            argv = [self.php_fpm, "-F", *(["-R"] if IS_ROOT else []), "-y", self.run / "php/php-fpm.conf",
                    "-p", self.run / "php", "-d", "expose_php=0"]
        else:
            engine = ["--engine", "libfcgi"] if s == "F" else []
            argv = cppapi_serve(self.cppapi, self.sock[s], self.args.threads, "--socket-mode", "0666",
                                "--shutdown-timeout", "2", *engine)
        self.backend[s] = self.procs.start(argv, self.logs / f"{s}-backend.log")

    def backend_alive(self, s: str) -> bool:
        return s == "A" or self.backend[s].poll() is None

    def ready(self, s: str) -> bool:
        try:
            if s != "A":  # no request before the socket is there: it would leave an nginx error-log line
                wait_until(lambda: not self.backend_alive(s) or self.sock[s].is_socket(), 20, "no socket")
            wait_until(lambda: not self.backend_alive(s) or answers(self.port[s], URL_PATH, 200, b"hello\n"),
                       20, f"scenario {s} does not answer")
        except BenchError:
            return False
        return self.backend_alive(s)

    def reply_sizes(self) -> dict[str, str]:
        """Reply bytes (head + body) per scenario, one request each: they must be equal."""
        sizes = {}
        for s in SCENARIOS:
            try:
                status, size, _ = http_get(self.port[s], URL_PATH)
                sizes[s] = f"{size} B" if status == 200 else f"HTTP {status}"
            except OSError as e:
                sizes[s] = f"failed ({e})"
                self.incidents.append(f"before the load, one single request to {s} (after its readiness check "
                                      f"had succeeded) failed: {e}")
        return sizes

    def pss(self, s: str) -> tuple[float | None, int, float | None]:
        """(mean PSS kB per worker, workers, master PSS kB or None). A backend with children
        (PHP-FPM) is a master whose children are the workers."""
        if s == "A" or not self.backend_alive(s):
            return None, 0, None
        pid = self.backend[s].pid
        kids = children(pid)
        if kids:
            return statistics.mean(smaps(k).get("Pss", 0) for k in kids), len(kids), smaps(pid).get("Pss")
        return smaps(pid).get("Pss"), 1, None

    def run_one(self, rnd: int, conns: int, s: str) -> None:
        a = self.args
        row = {"round": rnd, "conns": conns, "s": s, "status": "ok", "note": []}
        if not self.backend_alive(s):
            self.start_backend(s)
            if not self.ready(s):
                row.update(status="down", note=["backend not running"])
                self.runs.append(row)
                log(f"round {rnd} c={conns} {s}: backend down, run skipped")
                return
            row["note"].append("restarted before the run")
        url = f"http://127.0.0.1:{self.port[s]}{URL_PATH}"
        env = {"BENCH_STATUSES": "1"} if a.statuses else None
        tag = f"r{rnd}-c{conns}-{s}"
        err_log = self.logs / f"nginx-{s}-error.log"
        if a.warmup > 0:
            run_wrk(self.procs, url, conns, a.warmup, a.wrk_timeout, self.logs / f"warmup-{tag}.txt", env, False)
        lines_before = count_lines(err_log)
        ticks_before = backend_ticks(self.backend[s].pid) if s != "A" else 0
        result = run_wrk(self.procs, url, conns, a.duration, a.wrk_timeout, self.logs / f"run-{tag}.txt", env)
        ticks = backend_ticks(self.backend[s].pid) - ticks_before if s != "A" else None
        row["errlog"] = count_lines(err_log) - lines_before
        row["pss"], row["workers"], row["master_pss"] = self.pss(s)
        if not self.backend_alive(s):
            how = exit_description(self.backend[s].poll())
            self.incidents.append(f"round {rnd}, {conns} connections: the {s} backend (PID {self.backend[s].pid}) "
                                  f"died during the run: {how}")
            row["note"].append(f"backend died: {how}")
            log(f"round {rnd} c={conns} {s}: backend died ({how}); restarting")
            self.start_backend(s)
            if not self.ready(s):
                self.incidents.append(f"the {s} backend did not come back after a restart; see {s}-backend.log")
        if self.nginx.poll() is not None:
            raise BenchError(f"nginx died (see {self.logs / 'nginx-error.log'})")
        if result is None:
            tail = " ".join((self.logs / f"run-{tag}.txt").read_text(errors="replace").splitlines()[-2:])
            row.update(status="failed", wrk=WrkResult())
            row["note"].append(f"wrk gave no result: {tail}")
        else:
            row["wrk"] = result
        w = row["wrk"]
        row["cpu_us"] = ticks * 1e6 / CLK_TCK / w.requests if ticks is not None and w.requests else None
        self.runs.append(row)
        cpu = f"  CPU {row['cpu_us']:.1f} µs/req" if row["cpu_us"] is not None else ""
        log(f"round {rnd} c={conns:<3} {SHORT[s]:<18} {w.rps:8.0f} req/s  p50 {fmt_us(w.p50_us)}  "
            f"p99 {fmt_us(w.p99_us)}  errors {w.errors}{cpu}"
            + (f"  ({'; '.join(row['note'])})" if row["note"] else ""))

    def go(self) -> None:
        a = self.args
        self.build()
        self.load_before, cpu_before = loadavg(), cpu_line()
        if float(self.load_before.split()[0]) > os.cpu_count() / 2:
            log(f"warning: load average {self.load_before} on {os.cpu_count()} cores: results will be noisy")
        self.configure()
        for s in SCENARIOS:
            self.start_backend(s)
        for s in SCENARIOS:
            if not self.ready(s):
                raise BenchError(f"scenario {s} does not answer http://127.0.0.1:{self.port[s]}{URL_PATH} "
                                 f"(logs: {self.logs})")
        self.sizes = self.reply_sizes()
        log(f"all scenarios answer; reply bytes: {self.sizes}")
        if len(set(self.sizes.values())) != 1:
            log("warning: reply sizes differ between scenarios")
        total = a.rounds * len(a.connections) * len(SCENARIOS)
        log(f"{total} runs of {a.duration:g} s (+{a.warmup:g} s warm-up): about "
            f"{total * (a.duration + a.warmup + 1) / 60 + 1:.0f} min")
        for rnd in range(1, a.rounds + 1):
            for conns in a.connections:
                for s in SCENARIOS:
                    self.run_one(rnd, conns, s)
        self.load_after, cpu_after = loadavg(), cpu_line()
        delta = [x - y for x, y in zip(cpu_after, cpu_before)]
        self.steal = f"{100 * delta[7] / sum(delta):.0f}%" if sum(delta) > 0 else "?"
        (self.logs / "runs.json").write_text(json.dumps(
            [{**r, "wrk": dataclasses.asdict(r["wrk"]) if "wrk" in r else None} for r in self.runs], indent=1))

    # ---- report

    def ok(self, conns: int, s: str) -> list[dict]:
        return [r for r in self.runs if r["conns"] == conns and r["s"] == s and r["status"] == "ok"]

    def every(self, conns: int, s: str) -> list[dict]:  # errors are summed over every run, failed ones too
        return [r for r in self.runs if r["conns"] == conns and r["s"] == s and "wrk" in r]

    def med(self, conns: int, s: str, key: str) -> float | None:
        return median([getattr(r["wrk"], key) if key in WrkResult.__annotations__ else r.get(key)
                       for r in self.ok(conns, s)])

    def errors_cell(self, conns: int, s: str) -> str:
        runs = self.every(conns, s)
        total = {k: sum(getattr(r["wrk"], k) for r in runs) for k in ("connect", "read", "write", "timeout", "non2xx")}
        requests = sum(r["wrk"].requests for r in runs)
        errors = sum(total.values())
        if not errors:
            return f"0 / {requests}"
        parts = [f"{k} {n}" for k, n in total.items() if n and k != "non2xx"]
        if total["non2xx"]:
            statuses: dict[int, int] = {}
            for r in runs:
                for code, n in r["wrk"].by_status().items():
                    if not 200 <= code <= 299:
                        statuses[code] = statuses.get(code, 0) + n
            parts.append("HTTP " + (", ".join(f"{n}× {c}" for c, n in sorted(statuses.items()))
                                    or f"≥400 {total['non2xx']}"))
        return f"**{errors}** / {requests} ({'; '.join(parts)})"

    def pss_cell(self, conns: int, s: str) -> str:
        if s == "A":
            return "— (no backend)"
        w, n, m = (self.med(conns, s, k) for k in ("pss", "workers", "master_pss"))
        if w is None:
            return "—"
        return f"{fmt_mib(w)} × {n:.0f}" + (f" + master {fmt_mib(m)}" if m is not None else "")

    def versions(self) -> list[str]:
        def first_line(argv):
            p = subprocess.run(argv, capture_output=True, text=True)
            return (p.stdout + p.stderr).strip().splitlines()[0] if (p.stdout + p.stderr).strip() else "?"

        def deb(package):
            return subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True,
                                  text=True).stdout or "?"
        opcache = re.search(r"^opcache\.enable => (\S+)", subprocess.run(
            [str(self.php_fpm), "-i"], capture_output=True, text=True).stdout, re.M)
        shown = self.cppapi.relative_to(ROOT) if self.cppapi.is_relative_to(ROOT) else self.cppapi
        return [f"cppAPI {git_describe()}, `{shown}`" + (" (Release, `-DCPPAPI_BENCH_CALLS=ON`)"
                                                         if not self.args.cppapi else ""),
                f"{first_line(['nginx', '-v']).replace('nginx version: ', '')}, wrk {deb('wrk')}, "
                f"PHP-FPM {first_line([str(self.php_fpm), '-v']).split()[1]} "
                f"(opcache {opcache[1] if opcache else '?'})",
                f"libfcgi {deb('libfcgi0ldbl')}, {first_line(['cc', '--version'])}"]

    def report(self) -> str:
        a = self.args
        cs = a.connections
        med_rps = {(c, s): self.med(c, s, "rps") for c in cs for s in SCENARIOS}
        med_p99 = {(c, s): self.med(c, s, "p99_us") for c in cs for s in SCENARIOS}
        busy = " — the machine was busy: expect noise" if max(
            float(self.load_before.split()[0]), float(self.load_after.split()[0])) > os.cpu_count() / 2 else ""
        out = ["# cppAPI benchmark results\n", provenance(self.load_before, self.load_after),
               f"Chart: [results.png](results.png). Raw wrk output and logs: `{self.logs_shown()}`. "
               "How to rerun: [README.md](README.md).\n", "## Machine and versions\n",
               f"- {machine()}", f"- CPU steal during the run: {self.steal}{busy}",
               *[f"- {v}" for v in self.versions()],
               f"- {a.rounds} round(s) × connections {{{' '.join(map(str, cs))}}} × scenarios "
               f"{{{' '.join(SCENARIOS)}}}, "
               f"interleaved; each run {a.duration:g} s after a {a.warmup:g} s warm-up; `wrk -t1 --timeout "
               f"{a.wrk_timeout:g}s`; backends with {a.threads} threads / {a.php_children} PHP children; one nginx, "
               "1 worker, `worker_connections 1024`, `access_log off`.",
               f"- Every scenario answers `GET {URL_PATH}` with the body `hello\\n`; reply bytes (head + body) per "
               f"scenario: {', '.join(f'{s} {v}' for s, v in self.sizes.items())}.\n", "## Scenarios\n",
               *[f"- **{s}** — {self.title[s]}" for s in SCENARIOS], ""]
        for c in cs:
            rows = []
            for s in SCENARIOS:
                rps = [r["wrk"].rps for r in self.ok(c, s)]
                cpu = self.med(c, s, "cpu_us")
                rows.append([f"**{s}** {self.title[s]}", f"{med_rps[c, s]:.0f}" if rps else "—",
                             f"{min(rps):.0f} – {max(rps):.0f}" if rps else "—",
                             *(ratio(med_rps[c, s], med_rps[c, base]) for base in "ABCD"),
                             fmt_us(self.med(c, s, "p50_us")), fmt_us(med_p99[c, s]),
                             "— (no backend)" if s == "A" else "—" if cpu is None else f"{cpu:.1f}",
                             self.errors_cell(c, s), self.pss_cell(c, s)])
            out += [f"## {c} connections\n", md_table(
                ["scenario", "req/s (median)", "min – max", "×A", "×B", "×C", "×D", "p50", "p99",
                 "backend CPU µs/request", "errors / requests", "PSS per backend process"],
                rows, right={1, 2, 3, 4, 5, 6, 7, 8, 9})]
        out.append(
            "Ratios divide medians: ×B is the column to read for \"what does the framework cost over a hand-written "
            "libfcgi loop\", ×C for \"against PHP-FPM\", ×D (on F) for \"what the libfcgi engine costs or gains over the event "
            "engine, same calls, same nginx config\", ×A for how far each stays from nginx alone. p50/p99 come "
            f"from wrk's latency histogram of completed requests; a request wrk gave up on after {a.wrk_timeout:g}s "
            "counts under errors (timeout), not in p99. Backend CPU µs/request is the user + system CPU time of "
            "every backend process (cppapi, the libfcgi responder, PHP-FPM master and children; from "
            "/proc/PID/stat before and after the run) divided by the requests wrk completed; nginx and wrk are not "
            "in it. Errors are summed over all rounds: connect/read/write/timeout are wrk's socket errors; "
            "`HTTP ≥400 N` are error replies as wrk counts them (with `--statuses`, every reply outside 2xx, by "
            "status). A stalled request that nginx has not yet given up on (`fastcgi_read_timeout`, 60 s by "
            "default) leaves no nginx error-log line: it shows up only as a wrk timeout.\n")
        out += ["## Targets of issue 6\n", self.targets(med_rps, med_p99), "## Incidents and error logs\n",
                *self.incidents_lines(), "", "## Every run\n", self.every_run_table()]
        return "\n".join(out)

    def logs_shown(self) -> str:
        return str(self.logs.relative_to(ROOT)) if self.logs.is_relative_to(ROOT) else str(self.logs)

    def targets(self, med_rps: dict, med_p99: dict) -> str:
        rows = []

        def ge(x, y):
            return x is not None and y is not None and x >= y
        for c in self.args.connections:
            for name, top, base, need in (("D ≥ 0.95 × B", "D", "B", 0.95), ("E ≥ 1.6 × B", "E", "B", 1.6),
                                          ("E ≥ 2 × C", "E", "C", 2)):
                r = ratio(med_rps[c, top], med_rps[c, base])
                rows.append([name, c, f"{r} × {base}", "yes" if r != "—" and float(r) >= need else "no"])
            errors = sum(r["wrk"].errors for r in self.every(c, "E"))
            rows.append(["E with zero errors", c, f"{errors} errors", "yes" if errors == 0 else "no"])
            errors = sum(r["wrk"].errors for r in self.every(c, "F"))
            rows.append(["F (libfcgi engine) with zero errors", c, f"{errors} errors", "yes" if errors == 0 else "no"])
        last = self.args.connections[-1]
        rows.append(["E p99 ≤ B p99", last, f"{fmt_us(med_p99[last, 'E'])} vs {fmt_us(med_p99[last, 'B'])}",
                     "yes" if ge(med_p99[last, "B"], med_p99[last, "E"]) else "no"])
        for s in "DE":
            w = self.med(last, s, "pss")
            rows.append([f"{s} PSS per worker ≤ 1 MiB", last, fmt_mib(w), "yes" if ge(1024, w) else "no"])
        return md_table(["target", "connections", "measured", "met"], rows, right={1})

    def incidents_lines(self) -> list[str]:
        out = [f"- {i}" for i in self.incidents] or ["- No backend died; nothing was restarted."]
        any_log = False
        for s in SCENARIOS:
            path = self.logs / f"nginx-{s}-error.log"
            if summary := error_log_summary(path):
                any_log = True
                out += [f"- nginx error log of **{s}** ({count_lines(path)} lines; `{self.logs_shown()}/{path.name}`), "
                        "most frequent messages:", "", "  ```", *[f"  {l}" for l in summary], "  ```"]
        if not any_log:
            out.append("- The nginx error logs of all scenarios are empty.")
        for name, pattern in (("D-backend.log", r" (warn|warning|error|critical) "),
                              ("E-backend.log", r" (warn|warning|error|critical) "),
                              ("F-backend.log", r" (warn|warning|error|critical) "), ("php-fpm.log", r"WARNING|ERROR")):
            path = self.logs / name
            bad = [l for l in path.read_text(errors="replace").splitlines()
                   if re.search(pattern, l, re.I if "backend" in name else 0)] if path.exists() else []
            if bad:
                out.append(f"- {name} has {len(bad)} warning/error lines, e.g.: `{bad[0][:200]}`")
        return out

    def every_run_table(self) -> str:
        rows = []
        for r in self.runs:
            w = r.get("wrk") or WrkResult()
            parts = [f"{k} {getattr(w, k)}" for k in ("connect", "read", "write", "timeout") if getattr(w, k)]
            if w.non2xx:
                parts.append(f"non-2xx {w.non2xx} [{w.statuses}]")
            cpu = r.get("cpu_us")
            rows.append([r["round"], r["conns"], r["s"], f"{w.rps:.0f}" if r["status"] == "ok" else r["status"],
                         fmt_us(w.p50_us), fmt_us(w.p99_us), "—" if cpu is None else f"{cpu:.1f}", w.requests,
                         f"{w.errors} ({'; '.join(parts)})" if w.errors else "0", r.get("errlog", 0),
                         "; ".join(r["note"]) or "-"])
        return md_table(["round", "conn.", "scenario", "req/s", "p50", "p99", "CPU µs/req", "requests", "errors",
                         "nginx error-log lines", "note"], rows, right={0, 1, 3, 4, 5, 6, 7, 9})

    def chart(self, out_dir: Path) -> None:
        if not shutil.which("gnuplot"):
            log("gnuplot not found: no chart (deploy/install-deps.sh bench)")
            return
        a = self.args
        data = self.logs / "chart.dat"
        data.write_text("".join(f'"{SHORT[s]}" ' + " ".join(
            f"{self.med(c, s, 'rps') or 0:.0f}" for c in a.connections) + "\n" for s in SCENARIOS))
        colors, n, plot = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759"], len(a.connections), []
        for i, c in enumerate(a.connections):
            col, offset = i + 2, (i - (n - 1) / 2) / (n + 1)
            plot.append(f'"{data}" using {col}:xtic(1) title "{c} connections" lc rgb "{colors[i % 4]}"')
            plot.append(f'"{data}" using ($0+({offset:.3f})):{col}:(sprintf("%.0f",${col})) with labels '
                        'offset 0,0.8 font ",8" notitle')
        title = (f"cppAPI bench: req/s, median of {a.rounds} round(s) of {a.duration:g} s (wrk -t1, nginx 1 worker, "
                 f"{os.cpu_count()} cores)\\nload average before / after: {self.load_before.split()[0]} / "
                 f"{self.load_after.split()[0]}, {git_describe()}, {time.strftime('%Y-%m-%d')}")
        script = self.logs / "chart.gp"
        script.write_text(render("chart.gp.in", OUTPUT=out_dir / "results.png", TITLE=title,
                                 XMAX=f"{len(SCENARIOS) - 0.4:g}", PLOT=", ".join(plot)))
        with open(self.logs / "gnuplot.log", "wb") as out:
            if subprocess.run(["gnuplot", str(script)], stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                log(f"gnuplot failed (see {self.logs / 'gnuplot.log'})")


MICRO_HEADING = "## Micro-benchmarks"


def cmd_load(args) -> None:
    if args.quick:
        args.rounds = args.rounds or 1
        args.duration = args.duration or 3
    args.rounds, args.duration = args.rounds or 3, args.duration or 8
    logs = add_log_dir(args, "load")
    out_dir = Path(args.out_dir).resolve() if args.out_dir else logs if args.quick else BENCH
    # The temp dir outlives the processes: they are stopped before it is removed.
    with tempfile.TemporaryDirectory(prefix="cppapi-bench.") as run, Processes() as procs:
        bench = LoadBench(args, procs, logs, Path(run))
        bench.go()
    text = bench.report()
    old = BENCH / "RESULTS.md"  # the micro-benchmark section stays, whatever wrote it
    if old.exists() and MICRO_HEADING in old.read_text():
        text += "\n" + MICRO_HEADING + old.read_text().split(MICRO_HEADING, 1)[1]
    write_out(out_dir / "RESULTS.md", text)
    bench.chart(out_dir)
    if args.quick:
        print("\n" + text.split("## Targets")[0].split("## Scenarios")[1].split("\n\n", 1)[1], file=sys.stderr)


# ==== soak: worker memory under sustained load ============================================

SOAK_MIX = [("/api/add&2&3", 200), ("/api/echo&a&b%26c", 200), ("/api/notes/get&1", 200),
            ("/api/notes/get&99", 404), ("/api/add&1&x", 400)]
SOAK_PROCESSES, SOAK_THREADS = 2, 4


def cmd_soak(args) -> None:
    require("nginx", "wrk")
    logs = add_log_dir(args, "soak")
    if args.duration <= args.warmup:
        log(f"warning: --duration {args.duration} is not past the warm-up ({args.warmup} s): "
            "the verdict compares too few samples")
    binary = cppapi_binary(args.cppapi, TEST_BUILD, TEST_OPTIONS, "notes/get", logs)
    with tempfile.TemporaryDirectory(prefix="cppapi-soak.") as tmp, Processes(grace=10) as procs:
        run = Path(tmp)
        sock, port, www = run / "cppapi.sock", free_port(), run / "www"
        www.mkdir()
        (www / "index.html").write_text("ok\n")
        serve = cppapi_serve(binary, sock, SOAK_THREADS, "--processes", SOAK_PROCESSES)
        log(f"cppapi: {shlex.join(serve)}")
        master = procs.start(serve, logs / "cppapi.log")
        wait_until(sock.is_socket, 10, f"cppapi made no socket (log: {logs / 'cppapi.log'})")
        start_nginx(procs, run / "nginx", keepalive_site(sock, port, www), logs, logs / "nginx-error.log")
        wait_until(lambda: answers(port, SOAK_MIX[0][0]), 10, f"nginx does not answer (logs: {logs})")
        for path, status in SOAK_MIX:
            if not answers(port, path, status):
                raise BenchError(f"{path} did not answer {status}")
        workers = children(master.pid)
        if len(workers) != SOAK_PROCESSES:
            raise BenchError(f"expected {SOAK_PROCESSES} workers, got {workers}")
        log(f"master {master.pid}, workers {workers}, nginx on 127.0.0.1:{port}")

        url = f"http://127.0.0.1:{port}"
        argv = wrk_argv(url, args.connections, args.duration, 5, latency=False)
        load_before = loadavg()
        wrk = procs.start(argv, logs / "wrk.txt",
                          env={"BENCH_STATUSES": "1", "BENCH_PATHS": " ".join(p for p, _ in SOAK_MIX)})
        samples: dict[int, dict[int, dict[str, int]]] = {}  # t -> pid -> smaps
        start = time.monotonic()
        for t in range(0, args.duration + 1, args.interval):
            time.sleep(max(0.0, start + t - time.monotonic()))
            samples[t] = {pid: smaps(pid) for pid in workers + [master.pid]}
            log(f"t={t}s " + "  ".join(f"{pid}: {m.get('Rss', 'gone')}/{m.get('Pss', 'gone')} kB"
                                       for pid, m in samples[t].items()))
        try:
            wrk.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise BenchError("wrk did not end 30 s after its duration") from None
        result = parse_wrk((logs / "wrk.txt").read_text(errors="replace"))
        if result is None:
            raise BenchError(f"no result from wrk (see {logs / 'wrk.txt'})")
        workers_after = children(master.pid)
        load_after = loadavg()
        nginx_errors = sum(1 for l in (logs / "nginx-error.log").read_text(errors="replace").splitlines()
                           if re.search(r"\[(error|crit|alert|emerg)\]", l))

    times = sorted(samples)
    first, last = times[0], times[-1]
    warm = next((t for t in times if t >= args.warmup), first)

    def growth(pid: int, key: str, t0: int) -> tuple[int, float] | None:
        a, b = samples[t0][pid].get(key), samples[last][pid].get(key)
        return None if a is None or b is None else (b - a, 100 * (b - a) / a if a else 0.0)

    def cell(g):
        return "n/a" if g is None else f"{g[0]:+d} KiB ({g[1]:+.1f}%)"
    verdict, reasons, growth_rows = "flat", [], []
    for pid in workers + [master.pid]:
        name = f"{'master' if pid == master.pid else 'worker'} {pid}"
        warm_rss = growth(pid, "Rss", warm)
        growth_rows.append([name, cell(growth(pid, "Rss", first)), cell(growth(pid, "Pss", first)), cell(warm_rss)])
        if pid == master.pid:
            continue
        if warm_rss is None:
            verdict, reasons = "GROWING", reasons + [f"worker {pid} gone before the last sample"]
        elif warm_rss[0] >= 512 or warm_rss[1] >= 5:
            verdict, reasons = "GROWING", reasons + [f"worker {pid} RSS {cell(warm_rss)} after warm-up"]
    if workers_after != workers:
        reasons.append(f"worker set changed: {workers} -> {workers_after}")
    statuses = result.by_status()
    unexpected = sum(n for code, n in statuses.items() if code not in (200, 400, 404))
    socket_errors = result.connect + result.read + result.write + result.timeout

    def mem(m):
        return f"{m.get('Rss', 'gone')} / {m.get('Pss', 'gone')}"
    table = md_table(["t (s)"] + [f"worker {p} RSS / PSS KiB" for p in workers]
                     + [f"master {master.pid} RSS / PSS KiB"],
                     [[t] + [mem(samples[t][p]) for p in workers + [master.pid]] for t in times])
    shown = binary.relative_to(ROOT) if binary.is_relative_to(ROOT) else binary
    text = "\n".join([
        "# Soak: worker memory under sustained load\n", provenance(load_before, load_after),
        f"{machine()}. Other jobs may share the machine: this is about memory, not speed.\n",
        f"- cppapi: `{shlex.join(['cppapi'] + serve[1:]).replace(str(sock), 'SOCKET')}` (`{shown}`), "
        f"master {master.pid}, workers {' '.join(map(str, workers))}",
        "- nginx: 1 worker, the shipped `deploy/nginx/cppapi-keepalive.conf` (`keepalive 32`, `fastcgi_keep_conn on`), "
        "socket, port and root substituted",
        f"- load: `{shlex.join(argv).replace(str(BENCH) + '/', 'bench/')}` with `BENCH_PATHS` round robin over "
        + ", ".join(f"`{p}`" + (f" ({s})" if s != 200 else "") for p, s in SOAK_MIX),
        f"- memory: `Rss` and `Pss` from `/proc/PID/smaps_rollup` every {args.interval} s from the start of the load "
        "(t = 0)", "  (PSS moves whenever any other process maps or unmaps the same files, e.g. another run of the "
        "same binary: the verdict uses RSS)\n", table,
        f"Growth (t = {first} s → {last} s; RSS also from t = {warm} s, after the warm-up):\n",
        md_table(["process", f"RSS {first} → {last} s", f"PSS {first} → {last} s", f"RSS {warm} → {last} s"],
                 growth_rows),
        f"Requests: {result.requests} in {args.duration} s (~{result.requests / args.duration:.0f} req/s), replies by "
        f"status {result.statuses} (200, 404 and 400 expected); errors: {socket_errors} socket "
        f"(connect/read/write/timeout), {unexpected} unexpected status; nginx error log: {nginx_errors} error lines.",
        *([""] + [f"- {r}" for r in reasons] if reasons else []), "",
        f"**Verdict: {verdict}** (flat = every worker's RSS grew by < 5% and < 512 KiB from t = {warm} s to "
        f"t = {last} s).\n"])
    write_out(Path(args.out).resolve() if args.out else logs / "SOAK.md" if args.log_only else BENCH / "SOAK.md", text)
    log(f"verdict: {verdict}")


# ==== pool: processes x threads ============================================================


def cmd_pool(args) -> None:
    require("nginx", "wrk")
    logs = add_log_dir(args, "pool")
    binary = cppapi_binary(args.cppapi, TEST_BUILD, TEST_OPTIONS, "test/sleep", logs)
    rows, load_before = [], loadavg()
    for shape in args.shapes:
        processes, threads = map(int, shape.split("x"))
        shape_logs = logs / shape
        shape_logs.mkdir()
        with tempfile.TemporaryDirectory(prefix="cppapi-pool.") as tmp, Processes(grace=10) as procs:
            run = Path(tmp)
            sock, port = run / "cppapi.sock", free_port()
            log(f"{shape}: cppapi --processes {processes} --threads {threads}")
            master = procs.start(cppapi_serve(binary, sock, threads, "--processes", processes),
                                 shape_logs / "cppapi.log")
            wait_until(sock.is_socket, 10, f"cppapi made no socket (log: {shape_logs / 'cppapi.log'})")
            servers = render("location-server.conf.in", PORT=port, ERROR_LOG=shape_logs / "nginx-error.log",
                             LOCATION=cppapi_location(sock))
            start_nginx(procs, run / "nginx", servers, shape_logs, shape_logs / "nginx-error.log")
            wait_until(lambda: answers(port, "/api/add&2&3"), 10, f"nginx does not answer (logs: {shape_logs})")
            workers = children(master.pid)
            if len(workers) != processes:
                raise BenchError(f"{shape}: expected {processes} workers, got {workers}")
            found = {}
            # add first: requests wrk leaves behind in the listen queue would delay the next run
            for call in ("add&2&3", "test/sleep&20"):
                found[call] = run_wrk(procs, f"http://127.0.0.1:{port}/api/{call}", args.connections, args.duration,
                                      5, shape_logs / f"wrk-{call.split('&')[0].replace('/', '-')}.txt")
                if found[call] is None:
                    raise BenchError(f"wrk failed on {call} (see {shape_logs})")
            mem = [smaps(p) for p in workers]
            add, slp = found["add&2&3"], found["test/sleep&20"]

            def ms(w):
                return f"{(w.p50_us or 0) / 1000:.1f} / {(w.p99_us or 0) / 1000:.1f}"
            row = [f"{processes} x {threads}", f"{slp.rps:.0f}", processes * threads * 50, ms(slp), f"{add.rps:.0f}",
                   ms(add), slp.errors + add.errors, f"{sum(m.get('Rss', 0) for m in mem) / processes / 1024:.1f}",
                   f"{sum(m.get('Pss', 0) for m in mem) / processes / 1024:.1f}",
                   f"{smaps(master.pid).get('Rss', 0) / 1024:.1f}"]
            rows.append(row)
            log("| " + " | ".join(map(str, row)) + " |")
    text = "\n".join([
        "# Pool benchmark\n", provenance(load_before, loadavg()),
        f"{machine()}.",
        "nginx 1 worker with the shipped `deploy/nginx/cppapi.conf` location (no keep-alive to cppapi); "
        f"wrk 1 thread, {args.connections} connections, {args.duration:g} s per run; wrk, nginx and cppapi share "
        "the machine. `test/sleep&20` holds a thread 20 ms (as a database query would): its ceiling is processes x "
        "threads x 50 req/s. Memory is per worker after both runs (smaps_rollup; PSS shares pages among workers).\n",
        md_table(["processes x threads", "sleep 20 ms req/s", "ceiling", "p50 / p99 ms", "add req/s", "p50 / p99 ms",
                  "errors", "RSS MiB/worker", "PSS MiB/worker", "master RSS MiB"], rows)])
    write_out(Path(args.out).resolve() if args.out else logs / "RESULTS.md" if args.log_only
              else BENCH / "pool/RESULTS.md", text)


# ==== micro: Google Benchmark ==============================================================


def cmd_micro(args) -> None:
    logs = add_log_dir(args, "micro")
    cmake_build(BENCH_BUILD, BENCH_OPTIONS, ["cppapi_micro_bench"], logs / "build.log")
    reps, min_time = (1, 0.1) if args.quick else (args.repetitions, 0.5)
    binary = BENCH_BUILD / "bench/cppapi_micro_bench"
    load_before = loadavg()
    log(f"running {binary.relative_to(ROOT)} ({reps} repetition(s), median)")
    with Processes() as procs:
        proc = procs.start([binary, f"--benchmark_repetitions={reps}",
                            f"--benchmark_report_aggregates_only={'true' if reps > 1 else 'false'}",
                            f"--benchmark_min_time={min_time}", f"--benchmark_out={logs / 'micro.json'}",
                            "--benchmark_out_format=json"], logs / "micro.txt")
        try:
            code = proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            code = None
    print((logs / "micro.txt").read_text(errors="replace"), file=sys.stderr)
    if code != 0:
        raise BenchError(f"micro-benchmarks failed: {exit_description(code)}")
    rows = []
    for b in json.loads((logs / "micro.json").read_text())["benchmarks"]:
        if (reps == 1 and b.get("run_type") == "iteration") or b.get("aggregate_name") == "median":
            unit, allocs = b["time_unit"], b.get("allocs")
            rows.append([f"`{b.get('run_name', b['name'])}`", f"{b['real_time']:.0f} {unit}",
                         f"{b['cpu_time']:.0f} {unit}", "—" if allocs is None else f"{allocs:.1f}"])
    deb = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libbenchmark-dev"], capture_output=True,
                         text=True).stdout or "?"
    section = "\n".join([
        MICRO_HEADING + "\n", provenance(load_before, loadavg()),
        f"{machine()}. `bench/micro/dispatch_bench.cpp` (Google Benchmark {deb}, cppAPI Release build), median of "
        f"{reps} repetition(s).",
        "`BM_Request` is what a responder thread does per request between reading it and writing bytes: build the",
        "Request over nginx's 19 parameters, Dispatcher::handle, render_head. allocs = operator new calls per "
        "iteration.", "Wall time above CPU time means the machine was busy; CPU time is the better number then.\n",
        md_table(["benchmark", "wall time", "CPU time", "allocs"], rows, right={1, 2, 3})])
    target = Path(args.out).resolve() if args.out else logs / "RESULTS.md" if args.quick else BENCH / "RESULTS.md"
    kept = target.read_text().split(MICRO_HEADING, 1)[0].rstrip() if target.exists() else "# cppAPI benchmark results"
    write_out(target, kept + "\n\n" + section)


# ==== command line ==========================================================================


def parse_args(argv: list[str]) -> argparse.Namespace:
    top = argparse.ArgumentParser(prog="bench/bench.py", description=__doc__.split("\n\n")[0],
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  epilog="\n".join(__doc__.split("\n")[2:6]))
    sub = top.add_subparsers(dest="command", required=True)

    def common(p, out_help):
        p.add_argument("--log-dir", help="where logs go (default build/bench-logs/<time>-<command>)")
        p.add_argument("--out", help=out_help)

    load = sub.add_parser("load", help="A-E side by side: bench/RESULTS.md and bench/results.png")
    load.add_argument("--quick", action="store_true", help="1 round of 3 s; results in the log dir only")
    load.add_argument("--rounds", type=int, help="rounds, interleaved (3; --quick 1)")
    load.add_argument("--duration", type=float, help="seconds per run (8; --quick 3)")
    load.add_argument("--warmup", type=float, default=1, help="seconds of warm-up before each run (1)")
    load.add_argument("--connections", type=int, nargs="+", default=[16, 64], help="wrk connections (16 64)")
    load.add_argument("--threads", type=int, default=8, help="threads of B, D and E (8)")
    load.add_argument("--php-children", type=int, default=8, help="PHP-FPM children (8)")
    load.add_argument("--wrk-timeout", type=float, default=2, help="wrk --timeout in seconds (2)")
    load.add_argument("--statuses", action="store_true", help="count every reply by status (costs wrk throughput)")
    load.add_argument("--cppapi", help="benchmark this cppapi (it must serve bench/hello) instead of building one")
    load.add_argument("--log-dir", help="where logs go (default build/bench-logs/<time>-load)")
    load.add_argument("--out-dir", help="where RESULTS.md and results.png go (bench/; --quick: the log dir)")

    soak = sub.add_parser("soak", help="mixed load, worker memory over time: bench/SOAK.md")
    soak.add_argument("--duration", type=int, default=60, help="seconds of load (60)")
    soak.add_argument("--interval", type=int, default=5, help="seconds between memory samples (5)")
    soak.add_argument("--warmup", type=int, default=10, help="the verdict looks at growth after this (10)")
    soak.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    soak.add_argument("--cppapi", help="use this cppapi instead of building build/test/cppapi")
    soak.add_argument("--log-only", action="store_true", help="write SOAK.md into the log dir, not bench/")
    common(soak, "write the report here instead of bench/SOAK.md")

    pool = sub.add_parser("pool", help="processes x threads scaling: bench/pool/RESULTS.md")
    pool.add_argument("--shapes", nargs="+", default=["1x1", "1x8", "2x4", "4x1"],
                      help="processes x threads (1x1 1x8 2x4 4x1)")
    pool.add_argument("--duration", type=float, default=5, help="seconds per wrk run (5)")
    pool.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    pool.add_argument("--cppapi", help="use this cppapi (with the test calls) instead of building build/test/cppapi")
    pool.add_argument("--log-only", action="store_true", help="write RESULTS.md into the log dir, not bench/pool/")
    common(pool, "write the report here instead of bench/pool/RESULTS.md")

    micro = sub.add_parser("micro", help="Google Benchmark table at the end of bench/RESULTS.md")
    micro.add_argument("--quick", action="store_true", help="1 repetition of 0.1 s; table in the log dir only")
    micro.add_argument("--repetitions", type=int, default=5, help="repetitions, median reported (5)")
    common(micro, "put the table at the end of this file instead of bench/RESULTS.md")
    args = top.parse_args(argv)
    for shape in getattr(args, "shapes", []):
        if not re.fullmatch(r"[1-9]\d*x[1-9]\d*", shape):
            top.error(f"--shapes: expected PROCESSESxTHREADS, got {shape!r}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)

    def interrupted(signum, frame):
        raise KeyboardInterrupt
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # so the ExitStacks stop what they started
        signal.signal(signum, interrupted)
    try:
        {"load": cmd_load, "soak": cmd_soak, "pool": cmd_pool, "micro": cmd_micro}[args.command](args)
    except BenchError as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted; every process started was stopped")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
