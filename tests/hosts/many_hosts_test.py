#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Many hosts behind one nginx, as shipped in deploy/nginx/cppapi-upstream.conf.

Three cppapi pools on 127.0.0.11-13 (loopback only), each a master with workers on
TCP with allow_from naming nginx's address, one nginx in front. Scenarios:
  failover  20 s of GET load: kill -9 all of host 2 at 5 s, stop host 3 gracefully
            at 10 s, start host 2 again at 15 s. No failed response; host 2 serves again.
  post      a POST in flight on a host killed with -9 gets a 502 and runs nowhere else.
  rolling   deploy/rolling-upgrade restarts the hosts one by one under load: no failure.
Usage: many_hosts_test.py --cppapi BIN --source DIR [scenario...]
       many_hosts_test.py host start|stop|restart|ping DIR ADDRESS  (used by rolling-upgrade)
"""
import argparse
import http.client
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HOSTS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]
SHIPPED_HOSTS = ["192.0.2.11:9000", "192.0.2.12:9000", "192.0.2.13:9000"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(done, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.05)
    return False


def fastcgi_get(address, port, uri, timeout=2.0):
    """One FastCGI GET straight to a host: (status line, body)."""
    def record(kind, content):
        return struct.pack(">BBHHBx", 1, kind, 1, len(content), 0) + content

    def pair(name, value):
        return bytes([len(name), len(value)]) + name + value

    params = b"".join(pair(n.encode(), v.encode()) for n, v in [
        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", uri), ("SERVER_PROTOCOL", "HTTP/1.1")])
    request = (record(1, struct.pack(">HB5x", 1, 0)) + record(4, params) + record(4, b"") + record(5, b""))
    out = b""
    with socket.create_connection((address, port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    while len(data) >= 8:
        _, kind, _, length, padding = struct.unpack(">BBHHB", data[:7])
        if kind == 6:
            out += data[8:8 + length]
        data = data[8 + length + padding:]
    head, _, body = out.partition(b"\r\n\r\n")
    return head.decode(errors="replace").split("\r\n")[0], body.decode(errors="replace")


# ---- one host: a cppapi master in its own session, its pid and log in DIR/<address>/
class Host:
    def __init__(self, root, address):
        self.address = address
        self.dir = os.path.join(root, address)
        os.makedirs(self.dir, exist_ok=True)
        with open(os.path.join(root, "port")) as f:
            self.port = int(f.read())
        with open(os.path.join(root, "cppapi")) as f:
            self.binary = f.read().strip()

    def pid(self):
        try:
            with open(os.path.join(self.dir, "pid")) as f:
                pid = int(f.read())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self):
        generation = len([n for n in os.listdir(self.dir) if n.startswith("log.")])
        log = open(os.path.join(self.dir, f"log.{generation}"), "w")
        process = subprocess.Popen(
            [self.binary, "serve", "--listen", f"{self.address}:{self.port}", "--allow-from", "127.0.0.1",
             *(["--user", "nobody"] if os.geteuid() == 0 else []),
             "--processes", "2", "--threads", "4", "--shutdown-timeout", "10"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        with open(os.path.join(self.dir, "pid"), "w") as f:
            f.write(str(process.pid))
        if not wait_until(self.ping):
            raise RuntimeError(f"host {self.address} did not start: {self.log()[-2000:]}")
        return process

    def ping(self):
        try:
            return fastcgi_get(self.address, self.port, "/api/add&2&3")[1] == "5"
        except OSError:
            return False

    def stop(self):
        """Graceful: SIGTERM to the master, then wait until it and its workers are gone."""
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: not group_alive(pid), 20):
            raise RuntimeError(f"host {self.address} did not stop within 20 s")

    def kill(self):
        pid = self.pid()
        os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: not group_alive(pid), 10)

    def log(self):
        text = ""
        for name in sorted(n for n in os.listdir(self.dir) if n.startswith("log.")):
            with open(os.path.join(self.dir, name), errors="replace") as f:
                text += f.read()
        return text

    def served(self, call="add"):
        """Requests answered 200, from the access lines ("GET add 200 1B 210us")."""
        return sum(1 for line in self.log().splitlines() if f" GET {call} 200 " in line)


def group_alive(pgid):
    """Whether any process of the group still runs (a zombie waiting for its parent does not)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


# ---- nginx from the shipped site file
def start_nginx(root, source, port, nginx_port):
    site = open(os.path.join(source, "deploy/nginx/cppapi-upstream.conf")).read()
    substitutions = [(shipped, f"{address}:{port}") for shipped, address in zip(SHIPPED_HOSTS, HOSTS)]
    substitutions += [("listen 80;", f"listen 127.0.0.1:{nginx_port};"), ("listen [::]:80;", f"listen [::1]:{nginx_port};"),
                      ("root /var/www/cppapi;", f"root {source}/www;")]
    for old, new in substitutions:
        if old not in site:
            raise RuntimeError(f"deploy/nginx/cppapi-upstream.conf no longer holds '{old}': update the test")
        site = site.replace(old, new)
    prefix = os.path.join(root, f"nginx-{nginx_port}")
    os.makedirs(prefix)
    shutil.copy("/etc/nginx/fastcgi_params", prefix)
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(f"worker_processes 1;\npid {prefix}/nginx.pid;\nerror_log {prefix}/error.log;\n"
                f"events {{ worker_connections 256; }}\nhttp {{\n access_log {prefix}/access.log;\n{site}\n}}\n")
    process = subprocess.Popen(["nginx", "-p", prefix, "-c", f"{prefix}/nginx.conf", "-g", "daemon off;"],
                               stdin=subprocess.DEVNULL, start_new_session=True)
    if not wait_until(lambda: connectable("127.0.0.1", nginx_port)):
        raise RuntimeError("nginx did not start")
    return process


def connectable(address, port):
    try:
        socket.create_connection((address, port), timeout=0.5).close()
        return True
    except OSError:
        return False


# ---- load: clients on kept connections, every answer checked
class Load:
    def __init__(self, nginx_port, clients=6):
        self.port, self.stop_flag = nginx_port, threading.Event()
        self.ok, self.failures, self.lock = 0, [], threading.Lock()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(clients)]

    def client(self, index):
        connection, n = None, 0
        while not self.stop_flag.is_set():
            n += 1
            a, b = index, n
            try:
                connection = connection or http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                connection.request("GET", f"/api/add&{a}&{b}")
                response = connection.getresponse()
                body = response.read().decode()
                good = response.status == 200 and body == str(a + b)
                with self.lock:
                    if good:
                        self.ok += 1
                    else:
                        self.failures.append(f"{time.strftime('%T')} {response.status} {body[:80]}")
            except (OSError, http.client.HTTPException) as error:
                with self.lock:
                    self.failures.append(f"{time.strftime('%T')} {type(error).__name__}: {error}")
                connection = None

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_):
        self.stop_flag.set()
        for thread in self.threads:
            thread.join()


def at(start, second):
    time.sleep(max(0.0, start + second - time.monotonic()))


def scenario_failover(root, source, port):
    hosts = [Host(root, address) for address in HOSTS]
    for host in hosts:
        host.start()
    nginx = start_nginx(root, source, port, free_port())
    try:
        with Load(nginx_port_of(nginx)) as load:
            start = time.monotonic()
            at(start, 5); hosts[1].kill(); killed_at = time.monotonic()
            at(start, 10); hosts[2].stop()
            at(start, 15); hosts[1].start(); back_at = time.monotonic()
            before = hosts[1].served()
            at(start, 20)
            # nginx probes a failed host again only after fail_timeout (10 s): one probe that
            # came while host 2 was still starting puts it off for another 10 s. Keep the
            # load on (at most 25 s more) until host 2 takes traffic, and report when.
            rejoined = wait_until(lambda: hosts[1].served() > before, 25)
            rejoin_after = time.monotonic() - back_at
        after = hosts[1].served() - before
        shares = {h.address: h.served() for h in hosts}
        print(f"failover: {load.ok} ok, {len(load.failures)} failed; shares {shares}; "
              f"host 2 down {back_at - killed_at:.1f} s, took traffic again {rejoin_after:.1f} s after its start "
              f"and served {after} since")
        for failure in load.failures[:10]:
            print("  failed:", failure)
        assert load.ok > 1000, "too little load to mean anything"
        assert not load.failures, "failed responses during failover"
        assert rejoined and after > 0, "host 2 took no traffic after it came back"
    finally:
        stop(nginx)
        for host in hosts:
            host.stop()


def nginx_port_of(process):
    return int(process.args[process.args.index("-p") + 1].rsplit("-", 1)[1])


def stop(process):
    process.terminate()
    process.wait(20)


def established_to(address, port):
    """Connections to address:port in ESTABLISHED state (the server side of nginx's)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"src {address}:{port}"],
                         capture_output=True, text=True, check=True).stdout
    return len(out.splitlines())


def scenario_post(root, source, port):
    hosts = [Host(root, address) for address in HOSTS]
    for host in hosts:
        host.start()
    nginx = start_nginx(root, source, port, free_port())
    try:
        result = {}

        def post():
            connection = http.client.HTTPConnection("127.0.0.1", nginx_port_of(nginx), timeout=30)
            connection.request("POST", "/api/test/sleep&3000", body="order=1",
                               headers={"Content-Type": "application/x-www-form-urlencoded"})
            response = connection.getresponse()
            result["status"], result["body"] = response.status, response.read()[:200]

        client = threading.Thread(target=post)
        client.start()
        assert wait_until(lambda: sum(established_to(h.address, port) for h in hosts) == 1, 5), \
            "the POST reached no host"
        victim = next(h for h in hosts if established_to(h.address, port) == 1)
        time.sleep(0.3)
        victim.kill()
        client.join(40)
        others = [h for h in hosts if h is not victim]
        ran_elsewhere = [h.address for h in others if "test/sleep" in h.log()]
        print(f"post: killed {victim.address} with the POST in flight; client got {result.get('status')}; "
              f"ran elsewhere: {ran_elsewhere or 'nowhere'}")
        assert result.get("status") == 502, f"expected 502, got {result}"
        assert not ran_elsewhere, "nginx replayed the POST on another host"
    finally:
        stop(nginx)
        for host in hosts:
            if host.pid():
                host.stop()


def scenario_rolling(root, source, port):
    hosts = [Host(root, address) for address in HOSTS]
    for host in hosts:
        host.start()
    nginx = start_nginx(root, source, port, free_port())
    me = os.path.abspath(__file__)
    try:
        with Load(nginx_port_of(nginx)) as load:
            time.sleep(2)
            started = time.monotonic()
            subprocess.run([os.path.join(source, "deploy/rolling-upgrade"),
                            "--restart", f"{sys.executable} {me} host restart {root} {{host}}",
                            "--health", f"{sys.executable} {me} host ping {root} {{host}}",
                            *HOSTS], check=True)
            took = time.monotonic() - started
            time.sleep(2)
        restarted = all(len([n for n in os.listdir(h.dir) if n.startswith("log.")]) == 2 for h in hosts)
        print(f"rolling: {len(HOSTS)} hosts restarted one by one in {took:.1f} s; "
              f"{load.ok} ok, {len(load.failures)} failed")
        for failure in load.failures[:10]:
            print("  failed:", failure)
        assert restarted, "not every host was restarted"
        assert load.ok > 500 and not load.failures
    finally:
        stop(nginx)
        for host in hosts:
            host.stop()


def host_command(action, root, address):
    host = Host(root, address)
    if action == "start":
        host.start()
    elif action == "stop":
        host.stop()
    elif action == "restart":
        host.stop()
        host.start()
    elif action == "ping":
        return 0 if host.ping() else 1
    return 0


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "host":
        return host_command(*sys.argv[2:5])
    parser = argparse.ArgumentParser()
    parser.add_argument("--cppapi", required=True)
    parser.add_argument("--source", required=True)
    parser.add_argument("scenarios", nargs="*", default=["failover", "post", "rolling"])
    args = parser.parse_args()
    passed = failed = 0
    for name in args.scenarios:
        root = tempfile.mkdtemp(prefix=f"cppapi-hosts-{name}-")
        port = free_port()
        with open(os.path.join(root, "port"), "w") as f:
            f.write(str(port))
        with open(os.path.join(root, "cppapi"), "w") as f:
            f.write(os.path.abspath(args.cppapi))
        try:
            globals()[f"scenario_{name}"](root, os.path.abspath(args.source), port)
            passed += 1
            shutil.rmtree(root)
        except Exception as error:  # report, keep the logs, go on with the next scenario
            failed += 1
            print(f"{name}: FAILED: {type(error).__name__}: {error} (logs kept in {root})")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
