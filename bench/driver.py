"""scripts/bench: builds, then measures wsgi-fpm against its peers in
interleaved rounds and has bench/report.py write the page (scripts/bench
--help says what each option does).

The measurement: each round measures every server once per workload, in an
order that rotates each round, so that drift of the machine spreads over all
of them; each measurement starts its server fresh (bench/servers.py), waits
until it answers, samples the machine's background load, warms up, measures
(wsgi-fpm-loadgen straight to the FastCGI socket, or wrk through nginx or
Apache) and appends one JSON line to the results: its round, workload and
server, the client's JSON, the server's memory and CPU. Then callgrind counts
the instructions per request of one process of each server
(bench/callgrind_summary.py). bench/report.py turns both into the page; the
results are copied to BUILD/bench-results.jsonl.

--density and --own-gil hand over to bench/density.py and bench/own_gil.py
(the latter in the Debian 13 root of scripts/test-debian13 when this build
embeds a Python older than 3.12).
"""
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import http.client
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import density  # noqa: E402
from servers import (Apache, Nginx, PhpFpm, Processes, Responder, Uwsgi, WsgiFpm,  # noqa: E402
                     background_busy, cpu_seconds, log, memory, tail)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- options -------------------------------------------------------------

class UsageError(Exception):
    pass


@dataclass
class Options:
    # Kept as typed: they go to the load generator, wrk and the page as they are.
    rounds: str = "3"
    duration: str = "5"
    warmup: str = "1"
    processes: str = "2"
    threads: str = "4"
    connections: str = "8"
    sleep_threads: str = "32"
    sleep_connections: str = "64"
    callgrind: bool = True
    callgrind_requests: int = 2000
    output: str = "docs/benchmarks.md"
    workloads: str = "all"
    density: bool = False
    density_args: list = field(default_factory=list)
    own_gil: bool = False
    own_gil_args: list = field(default_factory=list)
    help: bool = False
    cleanup_users: bool = False


def parse(argv):
    """Options in order, as they come: --help and --cleanup-users act where
    they stand (an unknown option before them is an error, one after them is
    never read); --quick, --rounds, --duration and --warmup also go to the
    density or own-gil benchmark."""
    o = Options()
    args = list(argv)
    while args:
        arg = args.pop(0)

        def value():
            if not args:
                raise UsageError(f"{arg} needs a value")
            return args.pop(0)

        if arg == "--quick":
            o.rounds, o.duration, o.warmup, o.callgrind_requests = "1", "1", "0.5", 300
            o.density_args.append("--quick")
        elif arg == "--rounds":
            o.rounds = value()
            o.density_args += ["--rounds", o.rounds]
            o.own_gil_args += ["--rounds", o.rounds]
        elif arg == "--own-gil":
            o.own_gil = True
        elif arg == "--density":
            o.density = True
        elif arg == "--tenants":
            o.density_args += ["--tenants", value()]
        elif arg == "--cleanup-users":
            o.cleanup_users = True
            return o
        elif arg == "--duration":
            o.duration = value()
            o.own_gil_args += ["--duration", o.duration]
        elif arg == "--warmup":
            o.warmup = value()
            o.own_gil_args += ["--warmup", o.warmup]
        elif arg == "--processes":
            o.processes = value()
        elif arg == "--threads":
            o.threads = value()
        elif arg == "--connections":
            o.connections = value()
        elif arg == "--no-callgrind":
            o.callgrind = False
        elif arg == "--workloads":
            o.workloads = value()
        elif arg == "--output":
            o.output = value()
        elif arg in ("-h", "--help"):
            o.help = True
            return o
        else:
            raise UsageError(f"unknown option {arg}", 2)
    return o


# --- build -----------------------------------------------------------------

def run(argv, **kw):
    return subprocess.run(argv, **kw).returncode


def python_of(build):
    """The Python the build embeds (meson.build writes its path)."""
    with open(os.path.join(build, "python-executable")) as f:
        return f.read().strip()


def version_tuple(text):
    return tuple(int(re.match(r"\d*", part).group() or 0) for part in text.split("."))


def own_gil(o):
    """bench/own_gil.py with this build when it embeds Python 3.12 or later,
    else in the Debian 13 root of scripts/test-debian13 (Python 3.13), built
    there from this tree."""
    p = subprocess.run(["pkg-config", "--modversion", "python3-embed"], capture_output=True, text=True)
    native = p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else "0"
    if version_tuple(native) >= (3, 12):
        build = os.environ.get("BUILD") or "build"
        if not os.path.isfile(os.path.join(build, "build.ninja")):
            rc = run(["meson", "setup", build], stdout=subprocess.DEVNULL)
            if rc:
                return rc
        rc = run(["ninja", "-C", build], stdout=subprocess.DEVNULL)
        if rc:
            return rc
        py = python_of(build)
        os.execv(py, [py, "bench/own_gil.py", "--build", build, *o.own_gil_args])
    log(f"this build embeds Python {native}: measuring in the Debian 13 root (Python 3.13)")
    command = " ".join(["python3 /root/wsgi-fpm/bench/own_gil.py --build /root/build",
                        *map(shlex.quote, o.own_gil_args)])
    os.execv("scripts/test-debian13", ["scripts/test-debian13", "--run", command])


@dataclass
class Tools:
    build: str
    python: str
    loadgen: str
    responder: str
    wsgi_fpm: str
    worker: str
    have_wsgi_fpm: bool


def build():
    """Every peer, frontend and tool from Debian (scripts/setup), then the
    build: BUILD, default build/. Returns Tools, or an exit status."""
    rc = run(["scripts/setup"])
    if rc:
        return rc
    b = os.environ.get("BUILD") or "build"
    if not os.path.isfile(os.path.join(b, "build.ninja")):
        rc = run(["meson", "setup", b], stdout=subprocess.DEVNULL)
        if rc:
            return rc
    b = os.path.join(ROOT, b)
    ninja_log = os.path.join(b, "bench-ninja.log")
    with open(ninja_log, "wb") as f:
        rc = run(["ninja", "-C", b], stdout=f, stderr=subprocess.STDOUT)
    if rc:
        tail([ninja_log], 30)
        log("the build failed: nothing measured")
        return 1
    t = Tools(build=b, python=python_of(b), loadgen=os.path.join(b, "bench", "wsgi-fpm-loadgen"),
              responder=os.path.join(b, "bench", "fcgi-responder"), wsgi_fpm=os.path.join(b, "src", "wsgi-fpm"),
              worker=os.path.join(b, "src", "wsgi-fpm-worker"), have_wsgi_fpm=True)
    if not (os.access(t.wsgi_fpm, os.X_OK) and os.access(t.worker, os.X_OK)):
        t.have_wsgi_fpm = False
        log(f"no {t.wsgi_fpm} yet: its rows stay empty")
    return t


# --- servers and workloads ---------------------------------------------------

@dataclass
class Direct:
    """A FastCGI server measured by the load generator, no web server in between."""
    server: type  # a FastCgiServer
    options: tuple = ()  # more options of the server's command
    generator: tuple = ()  # more options of the load generator


DIRECT = {
    "wsgi-fpm": Direct(WsgiFpm),
    # The app imported once and the workers forked from it, as uWSGI's default.
    "wsgi-fpm-fork": Direct(WsgiFpm, ("--preload-fork", "true")),
    # The same server driven by two generator threads: if the generator were
    # what limits the fastest row, this one would serve more.
    "wsgi-fpm-gen2": Direct(WsgiFpm, generator=("--threads", "2")),
    "uwsgi": Direct(Uwsgi),
    # Each worker loads the app after fork(), as wsgi-fpm's and mod_wsgi's
    # workers do: the same memory model, for the memory comparison.
    "uwsgi-lazy": Direct(Uwsgi, ("--lazy-apps",)),
    "php-fpm": Direct(PhpFpm),
    "libfcgi": Direct(Responder),
    # The responder saturated: one generator thread alone shares the machine
    # with it and leaves it short of a core.
    "libfcgi-gen2": Direct(Responder, generator=("--threads", "2")),
}

@dataclass
class Http:
    """An HTTP stack measured by wrk: nginx in front of a FastCGI server, or
    Apache with mod_wsgi (backend None)."""
    backend: type
    keep_alive: bool = False  # nginx keeps its FastCGI connections (etc/nginx's keep-alive config)


HTTP = {
    "nginx+wsgi-fpm": Http(WsgiFpm),
    "nginx-ka+wsgi-fpm": Http(WsgiFpm, keep_alive=True),
    "nginx+uwsgi": Http(Uwsgi),
    "apache+mod_wsgi": Http(None),
}


@dataclass
class Workload:
    name: str
    app: str  # in bench/apps/
    threads: str
    connections: str
    keep_alive: bool
    body: int
    direct: list
    http: list


def workloads(o):
    all_direct = ["wsgi-fpm", "wsgi-fpm-fork", "uwsgi", "uwsgi-lazy", "php-fpm", "libfcgi", "wsgi-fpm-gen2",
                  "libfcgi-gen2"]
    http = ["nginx+wsgi-fpm", "nginx+uwsgi", "apache+mod_wsgi"]
    # As users run it: nginx with the shipped keep-alive configuration. (uWSGI's
    # FastCGI closes after each response, so it has no such row.)
    http_ka = http + ["nginx-ka+wsgi-fpm"]
    t, c = o.threads, o.connections
    return [
        Workload("hello", "hello.wsgi", t, c, False, 0, all_direct, http_ka),
        Workload("hello-ka", "hello.wsgi", t, c, True, 0, ["wsgi-fpm", "php-fpm", "libfcgi", "libfcgi-gen2"], []),
        Workload("64k", "big.wsgi", t, c, False, 0, ["wsgi-fpm", "uwsgi"], http),
        Workload("echo-1m", "echo.wsgi", t, c, False, 1048576, ["wsgi-fpm", "uwsgi"], http),
        Workload("sleep-10ms", "sleep.wsgi", o.sleep_threads, o.sleep_connections, False, 0, ["wsgi-fpm", "uwsgi"],
                 http),
        Workload("flask", "flask_hello.wsgi", t, c, False, 0, ["wsgi-fpm", "wsgi-fpm-fork", "uwsgi", "uwsgi-lazy"],
                 http_ka),
        Workload("django", "django_hello.wsgi", t, c, False, 0, ["wsgi-fpm", "uwsgi"], http_ka),
    ]


# --- measurements ------------------------------------------------------------

def wrk_seconds(seconds):
    """wrk takes whole seconds."""
    return max(1, math.ceil(float(seconds)))


def summary(result):
    return "%.0f req/s, p99 %.2f ms, %d errors" % (result["requests_per_second"], result["latency_us"]["p99"] / 1e3,
                                                  result["errors"]["total"])


class Bench:
    """One measuring run: the options, the tools, the temporary directory,
    the results file."""

    def __init__(self, o, tools, tmp):
        self.o, self.tools, self.tmp = o, tools, tmp
        self.procs = Processes(tmp)
        self.apps = os.path.join(tmp, "apps")
        self.results = os.path.join(tmp, "results.jsonl")
        open(self.results, "w").close()

    def wait_fastcgi(self, addr, extra=(), seconds=60):
        """Polls until one request succeeds, for `seconds` at most (Flask
        under mod_wsgi, or anything under valgrind, is slow to start)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if run([self.tools.loadgen, addr, "--print-response", *extra], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=10) == 0:
                    return True
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.2)
        return False

    @staticmethod
    def wait_http(port, seconds=60):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", "/")
                response = conn.getresponse()
                response.read()
                if response.status < 400:
                    return True
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            time.sleep(0.2)
        return False

    def record(self, rnd, workload, server, kind, out, mem, cpu, busy):
        try:
            result = json.loads(out)
        except ValueError:
            log(f"{workload} {server}: the client printed no JSON: {out[:200]!r}")
            return
        with open(self.results, "a") as f:
            f.write(json.dumps({"round": rnd, "workload": workload, "server": server, "kind": kind,
                                "result": result, "memory": mem, "server_cpu_seconds": cpu,
                                "background_busy_percent": busy}, separators=(",", ":")) + "\n")
        log("%-10s %-18s %s" % (workload, server, summary(result)))

    def measure_direct(self, rnd, w, name):
        row = DIRECT[name]
        server = row.server(self.procs, self.tools, os.path.join(self.apps, w.app), int(self.o.processes),
                            int(w.threads), *row.options)
        extra = (["--keep-alive"] if w.keep_alive else []) + (["--body-size", str(w.body)] if w.body > 0 else []) \
            + server.client_args() + list(row.generator)
        server.start()
        if not server.running() or not self.wait_fastcgi(server.addr, extra):
            log(f"{name} did not answer on {server.addr}; its log:")
            tail(server.logs())
            server.stop()
            return
        busy = background_busy()
        client = [self.tools.loadgen, server.addr]
        run(client + ["-c", w.connections, "--duration", self.o.warmup, *extra], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        cpu0 = cpu_seconds([server.pid])
        p = subprocess.run(client + ["--json", "-c", w.connections, "--duration", self.o.duration, *extra],
                           stdout=subprocess.PIPE, text=True)
        cpu1 = cpu_seconds([server.pid])
        out = p.stdout.strip() if p.returncode == 0 else ""
        if out:
            self.record(rnd, w.name, name, "direct", out, memory(server.pid, server.mem_pattern),
                        round(cpu1 - cpu0, 3), busy)
        server.stop()

    def measure_http(self, rnd, w, name):
        app = os.path.join(self.apps, w.app)
        p, t = int(self.o.processes), int(w.threads)
        stack_kind = HTTP[name]
        if stack_kind.backend:
            measured = stack_kind.backend(self.procs, self.tools, app, p, t).start()
            if not measured.running() or not self.wait_fastcgi(measured.addr):
                log(f"{name}: the backend did not answer; its log:")
                tail(measured.logs())
                measured.stop()
                return
            front = Nginx(self.procs, measured.addr, stack_kind.keep_alive).start()
            stack = [measured, front]
        else:
            measured = front = Apache(self.procs, app, p, t).start()
            stack = [front]
        if not front.running() or not self.wait_http(front.addr):
            log(f"{name} did not answer on port {front.addr}; its log:")
            tail(front.logs())
            for s in stack:
                s.stop()
            return
        url = f"http://127.0.0.1:{front.addr}/"
        env = dict(os.environ, WRK_BODY_SIZE=str(w.body))

        def wrk(seconds):
            """wrk's output; empty if it failed."""
            try:
                return subprocess.run(["wrk", "-t1", "-c", w.connections, "-d", "%ds" % wrk_seconds(seconds),
                                       "-s", "bench/wrk_report.lua", url], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, text=True).stdout
            except OSError as e:
                log(f"cannot run wrk: {e.strerror}")
                return ""

        busy = background_busy()
        wrk(self.o.warmup)
        pids = [s.pid for s in stack]
        cpu0 = cpu_seconds(pids)
        out = wrk(self.o.duration)
        cpu1 = cpu_seconds(pids)
        out = next((line for line in out.splitlines() if line.startswith("{")), "")
        if out:
            self.record(rnd, w.name, name, "http", out, memory(measured.pid, measured.mem_pattern),
                        round(cpu1 - cpu0, 3), busy)
        for s in stack:
            s.stop()

    def rounds(self):
        only = self.o.workloads
        for rnd in range(1, int(self.o.rounds) + 1):
            for w in workloads(self.o):
                if only != "all" and w.name not in only.split(","):
                    continue
                for name in density.rotate(w.direct, rnd):
                    if self.tools.have_wsgi_fpm or DIRECT[name].server is not WsgiFpm:
                        self.measure_direct(rnd, w, name)
                for name in density.rotate(w.http, rnd) if w.http else []:
                    if self.tools.have_wsgi_fpm or HTTP[name].backend is not WsgiFpm:
                        self.measure_http(rnd, w, name)

    # --- instructions per request (callgrind) --------------------------------
    # For each server: the Ir of one process (1 thread) serving N hello
    # requests, minus the Ir of the same process serving only the readiness
    # probe, divided by N. Profiles are TMP/callgrind-SERVER.RUN.PID.

    def callgrind_server(self, name, run_name):
        vg = ["/usr/bin/valgrind", "--tool=callgrind",
              f"--callgrind-out-file={self.tmp}/callgrind-{name}.{run_name}.%p"]
        app = os.path.join(self.apps, "hello.wsgi")
        if name == "wsgi-fpm":
            # The supervisor clears the worker's environment: the wrapper carries
            # everything it needs. A worker killed at shutdown writes no profile,
            # so stretch the timeouts (valgrind also starves the GIL heartbeat).
            wrapper = os.path.join(self.tmp, f"callgrind-worker-{run_name}")
            with open(wrapper, "w") as f:
                f.write('#!/bin/sh\nexec %s "$@"\n' % " ".join(vg + [self.tools.worker]))
            os.chmod(wrapper, 0o755)
            return WsgiFpm(self.procs, self.tools, app, 1, 1, "--startup-timeout", "300", "--shutdown-timeout", "300",
                           "--graceful-timeout", "300", "--deadlock-timeout", "0", worker=wrapper)
        if name == "uwsgi":
            # No master and one process: uWSGI serves from the process valgrind started.
            return Uwsgi(self.procs, self.tools, app, None, None, wrap=vg)
        return Responder(self.procs, self.tools, app, 1, 1, wrap=vg)

    def callgrind_run(self, name, run_name, requests):
        # Under valgrind, servers start ~50x slower: they have 300 s to answer.
        server = self.callgrind_server(name, run_name).start()
        if not server.running() or not self.wait_fastcgi(server.addr, seconds=300):
            log(f"callgrind: {name} did not answer; its log:")
            tail(server.logs())
            server.stop()
            return False
        if requests > 0:
            run([self.tools.loadgen, server.addr, "-c", "1", "--requests", str(requests), "--duration", "600"],
                stdout=subprocess.DEVNULL)
        server.stop(300)
        return True

    def callgrind(self):
        """{server: bench/callgrind_summary.py's summary} for each server measured."""
        n = self.o.callgrind_requests
        summaries = {}
        for name in (["wsgi-fpm"] if self.tools.have_wsgi_fpm else []) + ["libfcgi", "uwsgi"]:
            log(f"callgrind: {n} hello requests to one {name} process under valgrind")
            if self.callgrind_run(name, "base", 0) and self.callgrind_run(name, "load", n):
                p = subprocess.run([self.tools.python, "bench/callgrind_summary.py",
                                    os.path.join(self.tmp, "callgrind-" + name), str(n)],
                                   stdout=subprocess.PIPE, text=True)
                if p.returncode == 0:
                    summaries[name] = json.loads(p.stdout)
        return summaries


def measure(o, tools, command):
    tmp = tempfile.mkdtemp(prefix="wsgi-fpm-bench.", dir="/tmp")
    os.chmod(tmp, 0o755)  # Apache's and mod_wsgi's processes (www-data) create sockets here
    bench = Bench(o, tools, tmp)
    try:
        # The apps are read by processes that are not root (mod_wsgi's and
        # PHP-FPM's as www-data, pools as their users): served from a copy
        # they can reach even when the checkout sits under a 0700 directory
        # such as /root.
        shutil.copytree(os.path.join(ROOT, "bench", "apps"), bench.apps)
        run(["chmod", "-R", "a+rX", bench.apps])
        started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        log(f"rounds {o.rounds}, {o.duration}s per run after {o.warmup}s warm-up, {o.processes} processes x "
            f"{o.threads} threads, results in {tmp}")
        bench.rounds()
        callgrind = json.dumps(bench.callgrind(), separators=(",", ":")) if o.callgrind else "null"
        finished = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        rc = run([tools.python, "bench/report.py", "--results", bench.results, "--output", o.output,
                  "--command", command, "--started", started, "--finished", finished, "--rounds", o.rounds,
                  "--duration", o.duration, "--warmup", o.warmup, "--processes", o.processes,
                  "--threads", o.threads, "--connections", o.connections, "--sleep-threads", o.sleep_threads,
                  "--sleep-connections", o.sleep_connections, "--callgrind", callgrind])
        if rc:
            return rc
        results = os.path.join(tools.build, "bench-results.jsonl")
        shutil.copyfile(bench.results, results)
        log(f"wrote {o.output} (raw results in {results})")
        return 0
    finally:
        bench.procs.stop_all()
        if os.environ.get("BENCH_KEEP_TMP"):
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def interrupted(*_):
    raise SystemExit(130)


def main(argv, usage):
    os.chdir(ROOT)
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    command = ("BUILD=%s " % os.environ["BUILD"] if os.environ.get("BUILD") else "") + "scripts/bench " + " ".join(argv)
    try:
        o = parse(argv)
    except UsageError as e:
        print(f"scripts/bench: {e.args[0]}", file=sys.stderr)
        return e.args[1] if len(e.args) > 1 else 1
    if o.help:
        print(usage.strip("\n"))
        return 0
    if o.cleanup_users:
        return density.main(["--cleanup-users"])
    if o.own_gil:
        return own_gil(o)
    tools = build()
    if isinstance(tools, int):
        return tools
    if o.density:
        if not tools.have_wsgi_fpm:
            log(f"--density needs {tools.wsgi_fpm}")
            return 1
        os.execv(tools.python, [tools.python, "bench/density.py", "--build", tools.build, "--output", o.output,
                                "--command", command, *o.density_args])
    return measure(o, tools, command)
