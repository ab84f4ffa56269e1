"""The density benchmark: many idle ondemand tenants, each its own user.

    scripts/bench --density [--tenants 100,1000] [--rounds R] [--quick] [--cleanup-users]

For each N in --tenants, each round starts, one at a time (the order rotates
each round), wsgi-fpm (one `wsgi-fpm run` config with N pools), wsgi-fpm with
preload-fork, and PHP-FPM (one master with N pools): every tenant its own
user (wfpm-d0001 ..., not a system user), ondemand with at most 2 processes of 1 thread,
10 s idle timeout, a UNIX socket. Against each it measures:

  start      time from spawn until every tenant's socket accepts a connection
             (`listen`), and until then one tenant answers a request (`serve`)
  cold/warm  first byte of the first request to a tenant with no process, and
             of the request right after it (fresh tenants, never reused)
  worker     PSS of the one worker that cold request woke
  idle       once every worker has idled out: PSS of the supervisor/master and
             of its whole tree, its CPU (utime+stime from /proc/PID/stat, as %
             of one core) and context switches per second over --idle-seconds
  reload     wsgi-fpm: `wsgi-fpm reload` with one pool changed, until it
             returns and until the changed pool and an unchanged one answer;
             PHP-FPM: SIGUSR2 with one pool changed, until both answer. Every
             pool answers its first request after a reload from cold.

Results go to build/bench-density-results.jsonl (one line per server and
round) and to the density section of docs/benchmarks.md, between the markers
below, in the hand-written part that bench/report.py keeps. A measurement,
not a test: a failure is counted and written down, never worked around.

Run as root by the Python the build embeds (scripts/bench finds it); stdlib only.
"""
import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from density_report import IDLE_TIMEOUT, SERVERS, med_range, render, replace_section  # noqa: E402

USER_PREFIX = "wfpm-d"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[density {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- users ---------------------------------------------------------------

def user_name(i):
    return f"{USER_PREFIX}{i:04d}"


def ensure_users(n):
    """Users wfpm-d0001..N, made once and kept between runs. Ordinary users,
    not --system ones: the system range (100-999 on Debian) cannot hold 1,000
    tenants, and the tests' own system users need room in it."""
    made = 0
    for i in range(1, n + 1):
        name = user_name(i)
        try:
            pwd.getpwnam(name)
            continue
        except KeyError:
            pass
        for attempt in range(5):  # another engineer's useradd may hold /etc/passwd's lock
            r = subprocess.run(["useradd", "--user-group", "--no-create-home",
                                "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                               capture_output=True, text=True, timeout=30)
            if r.returncode in (0, 9):
                break
            time.sleep(0.2 * (attempt + 1))
        else:
            raise RuntimeError(f"useradd {name}: {r.stderr.strip()}")
        made += 1
    if made:
        log(f"made {made} users {user_name(1)}..{user_name(n)}")


def cleanup_users():
    names = [p.pw_name for p in pwd.getpwall()
             if p.pw_name.startswith(USER_PREFIX) and p.pw_name[len(USER_PREFIX):].isdigit()]
    for name in names:
        subprocess.run(["userdel", name], capture_output=True, timeout=30)
    log(f"removed {len(names)} users {USER_PREFIX}NNNN")


# --- /proc ---------------------------------------------------------------

def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def descendants(pid):
    kids, out, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def context_switches(pid):
    """Voluntary + involuntary switches of every thread: how often it woke up."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def uid_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def title_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]


# --- FastCGI -------------------------------------------------------------
# The encoder of tests/integration/support/clients.py, timed to the first byte.

def _record(rtype, content):
    return struct.pack("!BBHHBx", 1, rtype, 1, len(content), 0) + content


def _pair(name, value):
    out = b""
    for n in (len(name), len(value)):
        out += bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
    return out + name + value


def encode_request(params):
    pairs = b"".join(_pair(k.encode(), v.encode()) for k, v in params.items())
    return (_record(1, struct.pack("!HB5x", 1, 0)) + _record(4, pairs) + _record(4, b"")
            + _record(5, b""))


def parse_status(stdout):
    """The CGI status of a FastCGI response's stdout: 200 unless a Status header says otherwise."""
    head = stdout.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.splitlines():
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"status":
            try:
                return int(value.split()[0])
            except (IndexError, ValueError):
                return 0
    return 200 if b"\n" in stdout else 0


def fcgi_get(path, params, timeout=30.0):
    """One request on a fresh connection: (status, seconds to the first byte,
    seconds to the end). Status 0: no complete response (connect failed, closed early)."""
    req = encode_request(params)
    t0 = time.monotonic()
    first = None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    buf, stdout = bytearray(), bytearray()
    try:
        s.connect(path)
        s.sendall(req)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return 0, first, time.monotonic() - t0
            if first is None:
                first = time.monotonic() - t0
            buf += chunk
            while len(buf) >= 8:
                _, rtype, _, clen, plen = struct.unpack("!BBHHB", bytes(buf[:7]))
                if len(buf) < 8 + clen + plen:
                    break
                content = bytes(buf[8:8 + clen])
                del buf[:8 + clen + plen]
                if rtype == 6:
                    stdout += content
                elif rtype == 3:
                    return parse_status(bytes(stdout)), first, time.monotonic() - t0
    except OSError:
        return 0, first, time.monotonic() - t0
    finally:
        s.close()


# --- servers -------------------------------------------------------------

class Server:
    """One server with N tenants, in its own directory under the scratch dir."""

    def __init__(self, kind, n, scratch, apps, tools):
        self.kind, self.n, self.apps, self.tools = kind, n, apps, tools
        self.dir = os.path.join(scratch, f"{kind}-{n}")
        os.makedirs(self.dir, mode=0o755, exist_ok=True)
        self.sockdir = os.path.join(self.dir, "sockets")
        os.makedirs(self.sockdir, mode=0o755, exist_ok=True)
        self.proc = None
        self.env_marks = {}  # tenant -> value of DENSITY_RELOAD in its config

    def socket(self, i):
        return os.path.join(self.sockdir, f"t{i:04d}.sock")

    def params(self, i):
        p = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "REQUEST_URI": "/",
             "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "", "SERVER_NAME": "localhost",
             "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
             "REMOTE_PORT": "0", "HTTP_HOST": "localhost"}
        if self.kind == "php-fpm":
            p["SCRIPT_FILENAME"] = os.path.join(self.apps, "hello.php")
            p["SCRIPT_NAME"] = "/hello.php"
        return p

    def start(self):
        self.write_config()
        self.log = open(os.path.join(self.dir, "server.log"), "ab")
        self.proc = subprocess.Popen(self.argv(), stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env())

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def workers(self):
        """Processes that serve requests (not a preload-fork template, not a master)."""
        return [p for p in descendants(self.pid) if not self.is_helper(p)]

    def is_helper(self, pid):
        return False

    def worker_of(self, i):
        uid = pwd.getpwnam(user_name(i)).pw_uid
        return [p for p in self.workers() if uid_of(p) == uid]

    def stop(self, timeout=30):
        if self.proc is None:
            return
        tree = descendants(self.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log(f"{self.kind}: still running {timeout} s after {self.stop_signal.name}: SIGKILL")
                self.proc.kill()
                self.proc.wait(10)
        # Whatever of its tree outlived it (it should not), by the pids we saw.
        for p in tree:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None
        self.log.close()

    def tail(self, lines=8):
        try:
            with open(os.path.join(self.dir, "server.log"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode("utf-8", "replace")
        except OSError:
            return ""


class WsgiFpm(Server):
    stop_signal = signal.SIGTERM

    def __init__(self, kind, n, scratch, apps, tools):
        super().__init__(kind, n, scratch, apps, tools)
        self.config = os.path.join(self.dir, "wsgi-fpm.yaml")
        self.preload = kind == "wsgi-fpm-fork"

    def write_config(self):
        script = os.path.join(self.apps, "hello.wsgi")
        out = [f"runtime-dir: {os.path.join(self.dir, 'run')}",
               f"log: {os.path.join(self.dir, 'supervisor.log')}", "pools:"]
        for i in range(1, self.n + 1):
            out += [f"  t{i:04d}:", f"    user: {user_name(i)}", "    processes: 2", "    threads: 1",
                    "    process-manager: ondemand", f"    process-idle-timeout: {IDLE_TIMEOUT}",
                    f"    listen: {self.socket(i)}", f"    home: {self.apps}"]
            if self.preload:
                out.append("    preload-fork: true")
            if i in self.env_marks:
                out += ["    environment:", f"      DENSITY_RELOAD: \"{self.env_marks[i]}\""]
            out += ["    apps:", "      - mount: /", f"        script: {script}",
                    "        application-group: \"%{GLOBAL}\""]
        tmp = self.config + ".new"
        with open(tmp, "w") as f:
            f.write("\n".join(out) + "\n")
        os.rename(tmp, self.config)

    def argv(self):
        return [self.tools["wsgi-fpm"], "run", "-c", self.config]

    def env(self):
        return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG": "C.UTF-8", "WSGI_FPM_WORKER": self.tools["wsgi-fpm-worker"]}

    def is_helper(self, pid):
        title = title_of(pid)
        return (title.endswith((" template", " spare")) or " template " in title or " spare " in title
                or title.startswith(("wsgi-fpm zygote", "wsgi-fpm spare")))

    def reload(self, changed, mark):
        """Changes one pool and runs `wsgi-fpm reload`: seconds until it returned, or None."""
        self.env_marks[changed] = mark
        self.write_config()
        t0 = time.monotonic()
        r = subprocess.run([self.tools["wsgi-fpm"], "reload", "-c", self.config],
                           capture_output=True, text=True, timeout=120, env=self.env())
        took = time.monotonic() - t0
        if r.returncode != 0:
            log(f"wsgi-fpm reload exited {r.returncode}: {(r.stdout + r.stderr).strip()[:300]}")
            return t0, None
        return t0, took


class PhpFpm(Server):
    stop_signal = signal.SIGQUIT  # graceful, as wsgi-fpm's SIGTERM

    def __init__(self, kind, n, scratch, apps, tools):
        super().__init__(kind, n, scratch, apps, tools)
        self.config = os.path.join(self.dir, "php-fpm.conf")

    def write_config(self):
        out = ["[global]", f"pid = {os.path.join(self.dir, 'php-fpm.pid')}",
               f"error_log = {os.path.join(self.dir, 'error.log')}", "daemonize = no", ""]
        for i in range(1, self.n + 1):
            out += [f"[t{i:04d}]", f"user = {user_name(i)}", f"listen = {self.socket(i)}",
                    "pm = ondemand", "pm.max_children = 2",
                    f"pm.process_idle_timeout = {IDLE_TIMEOUT}s"]
            if i in self.env_marks:
                out.append(f"env[DENSITY_RELOAD] = {self.env_marks[i]}")
            out.append("")
        tmp = self.config + ".new"
        with open(tmp, "w") as f:
            f.write("\n".join(out))
        os.rename(tmp, self.config)

    def argv(self):
        return [self.tools["php-fpm"], "-F", "-y", self.config]

    def env(self):
        return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}

    def reload(self, changed, mark):
        """Changes one pool and sends SIGUSR2 (the master execs itself again)."""
        self.env_marks[changed] = mark
        self.write_config()
        t0 = time.monotonic()
        os.kill(self.pid, signal.SIGUSR2)
        return t0, None


def make_server(kind, n, scratch, apps, tools):
    return (PhpFpm if kind == "php-fpm" else WsgiFpm)(kind, n, scratch, apps, tools)


# --- one server, one round -------------------------------------------------

def listening_paths():
    """UNIX socket paths in the listening state (flag __SO_ACCEPTCON), from
    /proc/net/unix: a connect() to find out would wake an ondemand pool."""
    out = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[3] == "00010000":
                out.add(fields[7])
    return out


def cpu_ns(pids):
    """CPU time of each process (every thread), in ns, from schedstat: a tick
    (10 ms) would be the whole 0.05% budget of a 20 s window."""
    out = {}
    for pid in pids:
        total = 0
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, IndexError, ValueError):
                pass
        out[pid] = total
    return out


def cpu_delta(before, after):
    """CPU ns spent between two cpu_ns() readings by the processes alive at both."""
    return sum(after[p] - before[p] for p in before if p in after and after[p] >= before[p])


def tenant_plan(n, cold, reloads):
    """Distinct tenants spread over 1..n-1 (n answers the start probe): the
    cold samples, then (changed, unchanged) pairs for the reloads."""
    need = cold + 2 * reloads
    if n - 1 < need:
        raise SystemExit(f"density: {n} tenants are too few for {cold} cold samples and {reloads} reloads")
    step = (n - 1) / need
    picks = [1 + int(k * step) for k in range(need)]
    return picks[:cold], [(picks[cold + 2 * k], picks[cold + 2 * k + 1]) for k in range(reloads)]


def wait_answer(path, params, t0, timeout):
    """Requests until one is answered with 200: seconds since t0, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _, _ = fcgi_get(path, params, timeout=max(1.0, deadline - time.monotonic()))
        if status == 200:
            return time.monotonic() - t0
        time.sleep(0.02)
    return None


def measure(kind, n, rnd, scratch, apps, tools, opt):
    rec = {"round": rnd, "tenants": n, "server": kind, "failures": {}, "cold_ms": [], "warm_ms": [], "rewake_ms": [],
           "worker_pss_kb": [], "woken": [], "reload": [], "start": {}, "idle": {}}

    def fail(what, detail=""):
        rec["failures"][what] = rec["failures"].get(what, 0) + 1
        log(f"{kind} N={n}: FAILED {what} {detail}")

    cold, reloads = tenant_plan(n, opt.cold_samples, opt.reloads)
    # A thousand workers woken at once on 2 cores take a minute to start and
    # idle out (2026-12-07: 372 and 717 of them left after 30 s).
    settle_s = IDLE_TIMEOUT + 20 + 0.06 * n
    srv = make_server(kind, n, scratch, apps, tools)
    t0 = time.monotonic()
    srv.start()
    try:
        # Start: every socket listening, then one tenant's first answer.
        want = {srv.socket(i) for i in range(1, n + 1)}
        deadline = t0 + opt.start_timeout
        while srv.alive() and time.monotonic() < deadline and not want <= listening_paths():
            time.sleep(0.01)
        missing = len(want - listening_paths())
        if missing:
            fail("start", f"{missing} of {n} sockets not listening after {time.monotonic() - t0:.1f} s")
            rec["start"]["not_listening"] = missing
            if not srv.alive():
                log(srv.tail())
                return rec
        else:
            rec["start"]["listen_s"] = time.monotonic() - t0
        served = wait_answer(srv.socket(n), srv.params(n), t0, max(5.0, deadline - time.monotonic()))
        if served is None:
            fail("start", "the last tenant did not answer")
        else:
            rec["start"]["serve_s"] = served

        # Workers nobody asked for (wsgi-fpm 32f2cb7: one per pool at start,
        # woken by its own socket probe): counted, and waited out with the
        # start probe's, so that cold requests meet an idle server (at N=1000
        # they took seconds while a thousand workers were exiting).
        probe_uid = pwd.getpwnam(user_name(n)).pw_uid
        unasked, deadline = 0, time.monotonic() + settle_s
        while srv.alive() and time.monotonic() < deadline:
            uids = [uid_of(p) for p in srv.workers()]
            unasked = max(unasked, sum(1 for u in uids if u != probe_uid))
            if not uids:
                break
            time.sleep(0.25)
        rec["start"]["unasked_workers"] = unasked
        if unasked:
            log(f"{kind} N={n}: {unasked} workers started without a request; waited them out")
        left = len(srv.workers())
        if left:
            fail("settle", f"{left} workers still running {settle_s:.0f} s after the first answer")

        # Cold and warm first bytes, and the worker the cold request woke.
        for i in cold:
            if srv.worker_of(i):
                fail("cold", f"tenant {i} has a process before its first request")
                continue
            status, fb, _ = fcgi_get(srv.socket(i), srv.params(i))
            if status != 200:
                fail("cold", f"tenant {i}: status {status}")
                continue
            rec["cold_ms"].append(fb * 1e3)
            status, fb, _ = fcgi_get(srv.socket(i), srv.params(i))
            if status != 200:
                fail("warm", f"tenant {i}: status {status}")
            else:
                rec["warm_ms"].append(fb * 1e3)
            # PHP-FPM's ondemand may fork a second child for the second
            # request (the first one not yet back in its accept): counted, not failed.
            woken = srv.worker_of(i)
            rec["woken"].append(len(woken))
            if not woken:
                fail("worker", f"tenant {i}: no process after two requests")
            rec["worker_pss_kb"] += [pss_kb(p) for p in woken[:1]]
            time.sleep(0.2)

        # Woken again: the same tenants once their workers have idled out,
        # at once (what a template or zygote still running gives them).
        deadline = time.monotonic() + IDLE_TIMEOUT + 20
        while srv.alive() and time.monotonic() < deadline and srv.workers():
            time.sleep(0.1)
        for i in cold:
            status, fb, _ = fcgi_get(srv.socket(i), srv.params(i))
            if status != 200:
                fail("rewake", f"tenant {i}: status {status}")
            else:
                rec["rewake_ms"].append(fb * 1e3)

        # Idle: every process but the supervisor or master gone (workers after
        # their idle timeout, then templates and zygotes after theirs).
        deadline = time.monotonic() + 2 * IDLE_TIMEOUT + 20
        while srv.alive() and time.monotonic() < deadline and descendants(srv.pid):
            time.sleep(0.25)
        left = len(srv.workers()) if srv.alive() else 0
        if left:
            fail("idle", f"{left} workers still running {2 * IDLE_TIMEOUT + 20} s after the last request")
        time.sleep(1)
        tree = [srv.pid] + descendants(srv.pid)
        rec["idle"].update({
            "supervisor_pss_kb": pss_kb(srv.pid),
            "total_pss_kb": sum(pss_kb(p) for p in tree),
            "processes": len(tree),
            "workers": left})
        sup0, tree0, sw0, m0 = cpu_ns([srv.pid]), cpu_ns(tree), context_switches(srv.pid), machine_busy()
        time.sleep(opt.idle_seconds)
        sup1, tree1, sw1, m1 = cpu_ns([srv.pid]), cpu_ns(tree), context_switches(srv.pid), machine_busy()
        rec["idle"].update({
            "seconds": opt.idle_seconds,
            "supervisor_cpu_percent": cpu_delta(sup0, sup1) / 1e9 / opt.idle_seconds * 100,
            "tree_cpu_percent": cpu_delta(tree0, tree1) / 1e9 / opt.idle_seconds * 100,
            "wakeups_per_s": (sw1 - sw0) / opt.idle_seconds,
            "machine_busy_percent": 100 * (1 - (m1[1] - m0[1]) / max(1, m1[0] - m0[0]))})

        # Reload with one pool changed; each pool asked is one never asked before.
        for k, (changed, other) in enumerate(reloads):
            if not srv.alive():
                fail("reload", "the server is gone")
                break
            start, command_s = srv.reload(changed, k + 1)
            if kind != "php-fpm" and command_s is None:
                fail("reload", "the command failed")
                continue
            changed_s = wait_answer(srv.socket(changed), srv.params(changed), start, opt.start_timeout)
            other_s = wait_answer(srv.socket(other), srv.params(other), start, opt.start_timeout)
            if changed_s is None or other_s is None:
                fail("reload", f"tenant {changed if changed_s is None else other} did not answer")
            rec["reload"].append({"command_s": command_s, "changed_s": changed_s, "other_s": other_s})
            time.sleep(1)
        if not srv.alive():
            fail("died", f"exit {srv.proc.returncode}")
            log(srv.tail())
    finally:
        t1 = time.monotonic()
        srv.stop()
        rec["stop_s"] = time.monotonic() - t1
    return rec


# --- main ----------------------------------------------------------------

def rotate(seq, k):
    k %= len(seq)
    return list(seq[k:]) + list(seq[:k])


def main(argv=None):
    ap = argparse.ArgumentParser(description="wsgi-fpm's density benchmark (see the module's doc)")
    ap.add_argument("--tenants", default=None, help="comma-separated Ns (default 100,1000; --quick 20)")
    ap.add_argument("--servers", default=",".join(SERVERS))
    ap.add_argument("--rounds", type=int, default=None, help="default 2 (--quick 1)")
    ap.add_argument("--cold-samples", type=int, default=5)
    ap.add_argument("--reloads", type=int, default=3)
    ap.add_argument("--idle-seconds", type=float, default=20)
    ap.add_argument("--start-timeout", type=float, default=180)
    ap.add_argument("--quick", action="store_true", help="N=20, one round, a 5 s idle window")
    ap.add_argument("--cleanup-users", action="store_true", help="remove the wfpm-dNNNN users and exit")
    ap.add_argument("--build", default="build")
    ap.add_argument("--output", default="docs/benchmarks.md")
    ap.add_argument("--results", default=None, help="default BUILD/bench-density-results.jsonl")
    ap.add_argument("--command", default="scripts/bench --density")
    ap.add_argument("--report-only", metavar="JSONL", help="rewrite the section from saved results")
    opt = ap.parse_args(argv)
    # SIGTERM unwinds as ^C does, through the finally that stops the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if opt.cleanup_users:
        cleanup_users()
        return 0
    if opt.quick:
        opt.idle_seconds = 5
    opt.tenants = opt.tenants or ("20" if opt.quick else "100,1000")
    opt.rounds = opt.rounds or (1 if opt.quick else 2)
    meta = {"command": opt.command, "cold_samples": opt.cold_samples, "reloads": opt.reloads,
            "idle_seconds": opt.idle_seconds}
    results = opt.results or os.path.join(opt.build, "bench-density-results.jsonl")
    if opt.report_only:
        with open(opt.report_only) as f:
            records = [json.loads(line) for line in f if line.strip()]
        meta.update(started=records[0].get("date", "?"), finished=records[-1].get("date", "?"))
        write_section(opt.output, render(records, meta))
        return 0

    ns = [int(x) for x in opt.tenants.split(",")]
    servers = [s for s in opt.servers.split(",") if s]
    tools = {"wsgi-fpm": os.path.join(opt.build, "src", "wsgi-fpm"),
             "wsgi-fpm-worker": os.path.join(opt.build, "src", "wsgi-fpm-worker"),
             "php-fpm": "php-fpm8.2"}
    ensure_users(max(ns))


    scratch = tempfile.mkdtemp(prefix="wsgi-fpm-density.")
    os.chmod(scratch, 0o755)  # the tenants' processes read the apps from here
    apps = os.path.join(scratch, "apps")
    os.makedirs(apps)
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("hello.wsgi", "hello.php"):
        shutil.copy(os.path.join(here, "apps", name), apps)
        os.chmod(os.path.join(apps, name), 0o644)
    os.chmod(apps, 0o755)
    meta["started"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    records = []
    try:
        with open(results, "w") as out:
            for rnd in range(1, opt.rounds + 1):
                for n in ns:
                    for kind in rotate(servers, rnd - 1):
                        log(f"round {rnd}: {kind}, {n} tenants")
                        rec = measure(kind, n, rnd, scratch, apps, tools, opt)
                        rec["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
                        records.append(rec)
                        out.write(json.dumps(rec) + "\n")
                        out.flush()
                        log(summary_line(rec))
    finally:
        if os.environ.get("BENCH_KEEP_TMP"):
            log(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    write_section(opt.output, render(records, meta))
    log(f"wrote the density section of {opt.output} (raw results in {results})")
    return 0


def summary_line(r):
    i = r["idle"]
    return (f"{r['server']} N={r['tenants']}: supervisor {i.get('supervisor_pss_kb', 0) / 1024:.1f} MB, "
            f"tree {i.get('total_pss_kb', 0) / 1024:.1f} MB, cold {med_range(r['cold_ms'])} ms, "
            f"warm {med_range(r['warm_ms'], 2)} ms, idle CPU {i.get('supervisor_cpu_percent', -1):.3f}%, "
            f"reload {med_range([x['changed_s'] for x in r['reload']], 3)} s, failures {r['failures'] or 0}")


def write_section(path, section):
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    with open(path, "w") as f:
        f.write(replace_section(text, section))


if __name__ == "__main__":
    sys.exit(main())
