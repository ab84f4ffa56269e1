"""The chaos soak (issue 13): a busy site behind nginx's keep-alive upstream
(etc/nginx/wsgi-fpm-fastcgi-keepalive.conf as shipped) while a driver does
everything that goes wrong on a shared host, one thing every ~1.5 s:

  kill9       SIGKILL to a worker
  deadlock    SIGSTOP a worker and leave it past deadlock-timeout (2 s): the
              supervisor must replace it
  reload      a valid reload that replaces every process (threads 4 <-> 5)
  broken      a reload of a file with an error (refused; nothing changes)
  touch       the app's script touched (every process replaced)
  slowloris   20 connections to the pool that send nothing and 20 that send
              half a request head, held 3 s
  malformed   connections to the pool that send garbage records

The load: 12 clients on keep-alive HTTP connections, 70% GETs (0-20 ms of
work) and 30% POSTs of 1-64 KiB whose md5 the app returns; maximum-requests
also recycles processes all along.

A failed request (not 200, a wrong md5, or an error) is *attributed* when a
worker it may have been on was killed: it ended after the worker was
stopped, no later than 3 s after the worker's end (a request sent just after
the kill on a connection nginx still had cached to it fails too: a POST is
never retried), and no more such failures are attributed to one kill than
the frontend connections that worker held when it was stopped (read from
/proc): each such connection can fail one request. Every
other failure is *unattributed*, and there must be none. The supervisor's
descriptors after the soak, once the pool has settled, must be what they
were before, and its RSS must not have grown by more than 2 MiB.

A short run is part of the integration suite (WFPM_SOAK_SECONDS, default 40);
`scripts/soak --duration N` runs it longer by hand and prints the table.
"""
import sys

sys.dont_write_bytecode = True

import hashlib  # noqa: E402
import http.client as httpclient  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from support.clients import fcgi_pair, fcgi_record  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.frontends import start_frontend  # noqa: E402
from support.processes import descendants  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.supervisor import Supervisor  # noqa: E402
from support.users import FRONTEND_USER, TEST_USER  # noqa: E402
from support.waiting import wait_for  # noqa: E402

SECONDS = float(os.environ.get("WFPM_SOAK_SECONDS", "40"))
CLIENTS = 12
EVENTS = ["kill9", "reload", "slowloris", "deadlock", "touch", "malformed", "broken"]
WINDOW = 3.0  # seconds after a killed worker's end in which its failures may show


def supervisor_fds_and_rss(pid):
    """The supervisor's descriptors, but for those that come and go with
    processes it does not leak: a pidfd per forked worker, and the shared
    zygote's four channels while one lives; and its RSS."""
    links = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            links.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    zygotes = 0
    for child in descendants(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                zygotes += f.read().startswith(b"wsgi-fpm zygote")
        except OSError:
            pass
    fds = len(links) - links.count("anon_inode:[pidfd]") - 4 * zygotes
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return fds, rss * 1024


def frontend_connections(pid, socket_path):
    """Connections of `pid` accepted on the pool's socket (from /proc/net/unix,
    where an accepted socket shows its listener's path)."""
    accepted = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            # Num RefCount Protocol Flags Type St Inode Path; St 03 = connected
            if len(parts) >= 8 and parts[7] == socket_path and parts[5] == "03":
                accepted.add(parts[6])
    held = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in accepted:
                held += 1
    except OSError:
        pass
    return held


class Load:
    def __init__(self, port):
        self.port = port
        self.lock = threading.Lock()
        self.results = []  # (start, end, ok, what)
        self.stopping = False
        self.counter = 0
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(CLIENTS)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(90)

    def _next_id(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def _client(self, seed):
        rng = random.Random(seed)
        conn = None
        while not self.stopping:
            n = self._next_id()
            post = rng.random() < 0.3
            body = rng.randbytes(rng.randint(1024, 64 * 1024)) if post else None
            start = time.monotonic()
            ok, what = False, ""
            try:
                if conn is None:
                    conn = httpclient.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if post:
                    conn.request("POST", f"/md5?r={n}", body=body,
                                 headers={"Content-Type": "application/octet-stream"})
                else:
                    conn.request("GET", f"/proc/r{n}?ms={rng.randint(0, 20)}")
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    what = f"{'POST' if post else 'GET'} {resp.status}"
                elif post and json.loads(data).get("md5") != hashlib.md5(body).hexdigest():
                    what = "POST wrong md5"
                else:
                    ok = True
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except Exception as e:  # a failure like any other: counted and attributed below
                what = f"{'POST' if post else 'GET'} {type(e).__name__}"
                if conn is not None:
                    conn.close()
                conn = None
            with self.lock:
                self.results.append((start, time.monotonic(), ok, what))
        if conn is not None:
            conn.close()


class Driver:
    def __init__(self, sup, nginx, script, socket_path, scratch):
        self.sup, self.nginx, self.script, self.socket = sup, nginx, script, socket_path
        self.scratch = scratch
        self.kills = []  # dicts: kind, pid, stopped, killed, gone, held
        self.timeline = []  # (monotonic start, end, kind): for a failure's neighbours
        self.done = {e: 0 for e in EVENTS}
        self.errors = []
        self.threads_now = 4

    def ready_worker(self):
        p = self.sup.pool_status("soak")
        ready = [w["pid"] for w in (p or {}).get("workers", []) if w.get("state") == "ready"]
        return random.choice(ready) if ready else None

    def act(self, kind):
        start = time.monotonic()
        getattr(self, kind)()
        self.timeline.append((start, time.monotonic(), kind))
        self.done[kind] += 1

    def _stop_worker(self, kind):
        pid = self.ready_worker()
        if pid is None:
            return None
        os.kill(pid, signal.SIGSTOP)
        record = {"kind": kind, "pid": pid, "stopped": time.monotonic(),
                  "held": frontend_connections(pid, self.socket)}
        self.kills.append(record)
        return record

    def _gone(self, record, timeout):
        pid = record["pid"]

        def ended():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
            except OSError:
                return True
        try:
            wait_for(ended, timeout, what=f"worker {pid} to be gone")
        except AssertionError as e:
            self.errors.append(f"{record['kind']}: {e}")
        record["gone"] = time.monotonic()

    def kill9(self):
        record = self._stop_worker("kill9")
        if record:
            record["killed"] = time.monotonic()
            os.kill(record["pid"], signal.SIGKILL)
            self._gone(record, 10)

    def deadlock(self):
        record = self._stop_worker("deadlock")
        if record:
            # deadlock-timeout is 2 s, looked at once a second; the supervisor
            # then SIGKILLs the process.
            self._gone(record, 15)
            record["killed"] = record["gone"]

    def reload(self):
        self.threads_now = 9 - self.threads_now  # 4 <-> 5: every process replaced
        config = json.loads(json.dumps(self.sup.config))
        config["pools"]["soak"]["threads"] = self.threads_now
        self.sup.rewrite(config)
        r = self.sup.ctl("reload")
        if r.returncode != 0:
            self.errors.append(f"reload: exit {r.returncode}: {r.stderr.decode(errors='replace')}")

    def broken(self):
        good = json.loads(json.dumps(self.sup.config))
        bad = json.loads(json.dumps(good))
        bad["pools"]["soak"]["threads"] = 0
        self.sup.rewrite(bad)
        r = self.sup.ctl("reload")
        self.sup.rewrite(good)
        if r.returncode == 0:
            self.errors.append("a broken reload was accepted")

    def touch(self):
        now = time.time()
        os.utime(self.script, (now, now))

    def slowloris(self):
        head = (fcgi_record(1, struct.pack("!HB5x", 1, 1)) +
                fcgi_record(4, fcgi_pair(b"REQUEST_URI", b"/slow") * 30))
        held = []
        try:
            for i in range(40):
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.settimeout(5)
                c.connect(self.socket)
                if i % 2:
                    c.sendall(head[:len(head) // 2])
                held.append(c)
            time.sleep(3)
        except OSError as e:
            self.errors.append(f"slowloris: {e}")
        finally:
            for c in held:
                c.close()

    def malformed(self):
        for payload in (b"\x07" * 64, b"GET / HTTP/1.1\r\n\r\n",
                        fcgi_record(1, b"\x00\x01") + b"\x01\x04\x00\x01\xff\xff\x00\x00"):
            try:
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.settimeout(5)
                c.connect(self.socket)
                c.sendall(payload)
                c.shutdown(socket.SHUT_WR)
                while c.recv(4096):
                    pass
            except OSError:
                pass  # closed on us: what a malformed request earns
            finally:
                c.close()


def attribute(results, kills):
    """Splits the failures into attributed (per kill) and unattributed."""
    failures = sorted((r for r in results if not r[2]), key=lambda r: r[1])
    budget = {id(k): k["held"] for k in kills}
    per_kill = {id(k): [] for k in kills}
    unattributed = []
    for start, end, _, what in failures:
        owner = None
        for k in kills:
            killed, gone = k.get("killed"), k.get("gone")
            if killed is None or gone is None:
                continue
            # Started before the kill, or after it on a connection the
            # frontend still had cached to the dead worker (nginx retries a
            # GET then, never a POST: a reset at once): either way it ended
            # after the worker was stopped and at most WINDOW after its end.
            if k["stopped"] <= end <= gone + WINDOW and budget[id(k)] > 0:
                owner = k
                break
        if owner:
            budget[id(owner)] -= 1
            per_kill[id(owner)].append(what)
        else:
            unattributed.append((round(start, 2), round(end, 2), what))
    return per_kill, unattributed


def chaos_soak():
    scratch = Scratch(prefix="wfpm-soak-")
    apps = install_apps(scratch)
    sock = os.path.join(scratch.sub("run"), "soak.sock")
    config = {
        "runtime-dir": scratch.file("runtime"),
        "log": "stderr",
        "pools": {
            "soak": {"user": TEST_USER, "processes": 3, "threads": 4, "listen": sock,
                     "socket-user": FRONTEND_USER, "home": apps, "maximum-requests": 400,
                     "deadlock-timeout": 2, "graceful-timeout": 10, "request-read-timeout": 2,
                     "apps": [{"mount": "/proc", "script": os.path.join(apps, "procinfo.wsgi")},
                              {"mount": "/", "script": os.path.join(apps, "dispatch.wsgi")}]},
        },
    }
    sup = Supervisor(scratch, config)
    nginx = start_frontend(scratch, "nginx", "wsgi-fpm-fastcgi-keepalive.conf", sock)
    sup.wait_settled("soak")
    fds_before, rss_before = supervisor_fds_and_rss(sup.pid)
    load = Load(nginx.port)
    driver = Driver(sup, nginx, os.path.join(apps, "procinfo.wsgi"), sock, scratch)
    load.start()
    started = time.monotonic()
    time.sleep(1.0)
    i = 0
    while time.monotonic() - started < SECONDS - 2:
        driver.act(EVENTS[i % len(EVENTS)])
        i += 1
        time.sleep(1.5)
    load.stop()
    elapsed = time.monotonic() - started
    settled = sup.wait_settled("soak", timeout=30)
    wait_for(lambda: len(sup.workers()) == len(settled), 30,
             what=f"retired processes to exit (have {sup.workers()}, pool {settled})")
    time.sleep(0.5)
    fds_after, rss_after = supervisor_fds_and_rss(sup.pid)

    results = load.results
    failed = [r for r in results if not r[2]]
    per_kill, unattributed = attribute(results, driver.kills)
    lines = [f"chaos soak: {elapsed:.0f} s, 3 processes x 4-5 threads behind nginx keep-alive, "
             f"{CLIENTS} clients",
             f"  {'requests':<44}{len(results):>8}",
             f"  {'not 200, wrong body or error':<44}{len(failed):>8}"]
    for k in driver.kills:
        got = per_kill[id(k)]
        label = f"attributed: {k['kind']} of {k['pid']} (held {k['held']})"
        lines.append(f"    {label:<42}{len(got):>8}  {', '.join(sorted(set(got)))}")
    lines.append(f"    {'unattributed':<42}{len(unattributed):>8}")
    lines.append("  events: " + ", ".join(f"{e} x{n}" for e, n in driver.done.items()))
    lines.append(f"  supervisor fds before/after: {fds_before} / {fds_after}; RSS before/after: "
                 f"{rss_before / 2**20:.1f} / {rss_after / 2**20:.1f} MiB")
    table = "\n".join(lines)
    print(table, file=sys.stderr)
    if os.environ.get("WFPM_SOAK_TABLE"):
        with open(os.environ["WFPM_SOAK_TABLE"], "w") as f:
            f.write(table + "\n")

    problems = list(driver.errors)
    if unattributed:
        def near(t):
            return [f"{kind} {round(a - t, 2)}..{round(b - t, 2)} s" for a, b, kind in driver.timeline
                    if a - 5 <= t <= b + 5]
        upstream = [line for line in nginx.error_log().splitlines()
                    if "upstream" in line or "prematurely" in line or "reset" in line][-12:]
        offset = time.time() - time.monotonic()
        at = time.strftime("%H:%M:%S", time.localtime(unattributed[0][1] + offset))
        problems.append(f"{len(unattributed)} unattributed failures, first {unattributed[:8]} (the first at "
                        f"{at}.{int((unattributed[0][1] + offset) % 1 * 1000):03d}); events around "
                        f"the first: {near(unattributed[0][1])}\n--- nginx's upstream errors:\n"
                        + "\n".join(upstream) + f"\n--- wsgi-fpm:\n{sup.stderr_tail(40)}")
    missing = [e for e, n in driver.done.items() if n == 0]
    if missing:
        problems.append(f"events that never happened: {missing}")
    if len(results) < 100:
        problems.append(f"only {len(results)} requests in {elapsed:.0f} s")
    if fds_after != fds_before:
        problems.append(f"the supervisor's descriptors went from {fds_before} to {fds_after}")
    if rss_after > rss_before + 2 * 2**20:
        problems.append(f"the supervisor's RSS grew from {rss_before} to {rss_after} bytes")
    nginx.stop()
    h_stop = sup.stop()
    if h_stop != 0:
        problems.append(f"the supervisor exited {h_stop} at SIGTERM")
    if problems:
        raise AssertionError("\n".join(problems))


def main():
    runner = Runner(budget=SECONDS + 240)
    runner.add("soak/chaos", chaos_soak)
    runner.main()


if __name__ == "__main__":
    main()
