"""bench/driver.py and bench/servers.py, the Python behind scripts/bench,
without running a benchmark: its options (and what goes on to the density
and own-gil benchmarks), the workloads measuring exactly the servers
tests/bench/check_bench_run.py expects of a full run, the servers' commands
and configs, and a process's memory and CPU read from /proc. The full run is
scripts/test's "benchmark smoke" stage.

Run by the Python the build embeds, stdlib only. Prints `ok NAME` or
`FAIL NAME: reason` per check, then `P passed, F failed`.
"""
import os
import subprocess
import sys
import tempfile
import time

SOURCE = os.environ.get("WSGI_FPM_SOURCE") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(SOURCE, "bench"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import check_bench_run  # noqa: E402
import driver  # noqa: E402
import servers  # noqa: E402
from checks import run_checks  # noqa: E402


def expect(got, want, what):
    if got != want:
        raise AssertionError(f"{what}: expected {want!r}, got {got!r}")


def usage_error(argv):
    try:
        driver.parse(argv)
    except driver.UsageError as e:
        return e.args
    raise AssertionError(f"{argv} was accepted")


class FakeTools:
    wsgi_fpm, worker, responder = "/b/src/wsgi-fpm", "/b/src/wsgi-fpm-worker", "/b/bench/fcgi-responder"


# --------------------------------------------------------------------------


def options_and_where_they_go():
    o = driver.parse([])
    expect((o.rounds, o.duration, o.warmup, o.callgrind_requests, o.output, o.workloads),
           ("3", "5", "1", 2000, "docs/benchmarks.md", "all"), "defaults")
    o = driver.parse(["--quick", "--rounds", "2", "--duration", "3", "--warmup", "1", "--tenants", "20,40"])
    expect((o.rounds, o.duration, o.warmup, o.callgrind_requests), ("2", "3", "1", 300), "--quick, then others")
    expect(o.density_args, ["--quick", "--rounds", "2", "--tenants", "20,40"], "what goes to density.py")
    expect(o.own_gil_args, ["--rounds", "2", "--duration", "3", "--warmup", "1"], "what goes to own_gil.py")
    o = driver.parse(["--processes", "1", "--threads", "2", "--connections", "4", "--no-callgrind",
                      "--workloads", "none", "--output", "x.md"])
    expect((o.processes, o.threads, o.connections, o.callgrind, o.workloads, o.output),
           ("1", "2", "4", False, "none", "x.md"), "the measuring options")
    # Options act in order: --help and --cleanup-users where they stand.
    expect(driver.parse(["--cleanup-users", "--bogus"]).cleanup_users, True, "--cleanup-users before a bad option")
    expect(driver.parse(["--help", "--bogus"]).help, True, "--help before a bad option")
    expect(usage_error(["--bogus", "--help"]), ("unknown option --bogus", 2), "a bad option before --help")
    expect(usage_error(["--rounds"]), ("--rounds needs a value",), "a missing value (exit status 1)")


def every_expected_server_is_measured_and_no_other():
    measured = {}
    for w in driver.workloads(driver.parse([])):
        measured[w.name] = sorted(w.direct + w.http)
        for name in w.direct:
            if name not in driver.DIRECT:
                raise AssertionError(f"{w.name}: no direct server {name}")
        for name in w.http:
            if name not in driver.HTTP:
                raise AssertionError(f"{w.name}: no HTTP stack {name}")
    expect(measured, {w: sorted(s) for w, s in check_bench_run.EXPECTED.items()}, "workloads and their servers")


def rounds_rotate_the_order():
    expect(driver.density.rotate(["a", "b", "c"], 1), ["b", "c", "a"], "round 1")
    expect(driver.density.rotate(["a", "b", "c"], 3), ["a", "b", "c"], "round 3")


def servers_commands_and_configs():
    with tempfile.TemporaryDirectory() as tmp:
        procs = servers.Processes(tmp)
        app = os.path.join(tmp, "apps", "hello.wsgi")
        w = servers.WsgiFpm(procs, FakeTools, app, 2, 4, "--preload-fork", "true")
        expect(w.argv(), ["/b/src/wsgi-fpm", "serve", app, "--listen", f"unix:{tmp}/wsgi-fpm-1.sock",
                          "--processes", "2", "--threads", "4", "--allow-root", "--preload-fork", "true"],
               "wsgi-fpm serve")
        u = servers.Uwsgi(procs, FakeTools, app, 2, 4, "--lazy-apps")
        expect(u.argv(), ["uwsgi", "--plugin", "python3", "--fastcgi-socket", f"{tmp}/uwsgi-2.sock",
                          "--wsgi-file", app, "--processes", "2", "--threads", "4", "--master",
                          "--disable-logging", "--die-on-term", "--need-app", "--lazy-apps"], "uWSGI")
        one = servers.Uwsgi(procs, FakeTools, app, None, None, wrap=["valgrind"])
        expect(one.wrap + one.argv(), ["valgrind", "uwsgi", "--plugin", "python3", "--fastcgi-socket",
                                       f"{tmp}/uwsgi-3.sock", "--wsgi-file", app, "--disable-logging",
                                       "--die-on-term", "--need-app"], "uWSGI without a master")
        p = servers.PhpFpm(procs, FakeTools, app, 2, 4)
        p.config()
        with open(p.conf) as f:
            conf = f.read()
        for line in (f"listen = {tmp}/php-fpm-4.sock", "pm = static", "pm.max_children = 8", "daemonize = no"):
            if line not in conf.splitlines():
                raise AssertionError(f"PHP-FPM's config lacks {line!r}:\n{conf}")
        expect(p.client_args(), ["--param", f"SCRIPT_FILENAME={tmp}/apps/hello.php",
                                 "--param", "SCRIPT_NAME=/hello.php"], "PHP-FPM's params")
        r = servers.Responder(procs, FakeTools, app, 2, 4)
        expect(r.argv(), ["/b/bench/fcgi-responder", f"{tmp}/libfcgi-5.sock", "8"], "the responder's threads")
        n = servers.Nginx(procs, w.addr)
        n.config()
        expect(n.addr, 18081, "the first HTTP port")
        with open(n.conf) as f:
            conf = f.read()
        for line in ("listen 127.0.0.1:18081;", f"server unix:{w.addr};", "fastcgi_pass backend;",
                     "worker_processes 1;", "fastcgi_param PATH_INFO $uri;"):
            if line not in conf:
                raise AssertionError(f"nginx's config lacks {line!r}:\n{conf}")
        for line in ("keepalive 8;", "fastcgi_keep_conn on;"):
            if line in conf:
                raise AssertionError(f"nginx's per-connection config has {line!r}:\n{conf}")
        if not os.path.isdir(os.path.join(tmp, "nginx-6")):
            raise AssertionError("nginx's temporary paths' directory was not made")
        a = servers.Apache(procs, app, 2, 4)
        a.config()
        expect(a.addr, 18082, "the next HTTP port")
        with open(a.conf) as f:
            conf = f.read()
        for line in ("Listen 127.0.0.1:18082", "WSGIDaemonProcess bench processes=2 threads=4 display-name=%{GROUP}",
                     f"WSGIScriptAlias / {app}", f"<Directory {tmp}/apps>"):
            if line not in conf.splitlines():
                raise AssertionError(f"Apache's config lacks {line!r}:\n{conf}")
        expect(a.mem_pattern, "(wsgi:", "Apache's workers")
        ka = servers.Nginx(procs, w.addr, keep_alive=True)
        ka.config()
        with open(ka.conf) as f:
            conf = f.read()
        for line in ("keepalive 8;", "fastcgi_keep_conn on;"):  # as etc/nginx/wsgi-fpm-fastcgi-keepalive.conf
            if line not in conf:
                raise AssertionError(f"nginx's keep-alive config lacks {line!r}:\n{conf}")


def a_server_is_started_and_stopped_by_pid():
    with tempfile.TemporaryDirectory() as tmp:
        procs = servers.Processes(tmp)

        class Sleeper(servers.Server):
            prefix = "sleep"

            def argv(self):
                return ["sh", "-c", "echo started; exec sleep 60"]

        s = Sleeper(procs).start()
        expect(len(procs.started), 1, "processes started")
        log = os.path.join(tmp, "sleep-1.log")
        for _ in range(100):
            if os.path.getsize(log):
                break
            time.sleep(0.05)
        s.stop()
        expect(procs.started, [], "processes left after stop")
        expect(s.proc.returncode, -15, "stopped by SIGTERM")
        with open(log) as f:
            expect(f.read(), "started\n", "its log")

        class Missing(servers.Server):
            prefix = "missing"

            def argv(self):
                return ["/nonexistent/server"]

        m = Missing(procs).start()  # a tool not installed: its rows stay empty, the run goes on
        expect((m.running(), procs.started), (False, []), "a server that cannot run")
        m.stop()
        with open(os.path.join(tmp, "missing-2.log")) as f:
            expect(f.read(), "cannot run /nonexistent/server: No such file or directory\n", "its log")


def memory_and_cpu_of_a_master_and_its_workers():
    """This process as the master, two children as workers, one of them
    titled as a preload-fork template: it counts with the master."""
    worker = subprocess.Popen(["sleep", "30"])
    template = subprocess.Popen(["wsgi-fpm: hello template", "30"], executable="/bin/sleep")
    try:
        m = servers.memory(os.getpid())
        expect(len(m["workers"]), 1, "workers (the template is no worker)")
        expect(sorted(m), ["master", "master_pss_private", "workers", "workers_pss_private"], "keys")
        own = servers.mem_kb(os.getpid())
        if not m["master"] > own[0] or own[0] <= 0:
            raise AssertionError(f"the master's RSS {m['master']} should include the template's (own {own})")
        expect(servers.memory(os.getpid(), "no such title")["workers"], [], "workers selected by title")
        if servers.cpu_seconds([os.getpid()]) <= 0:
            raise AssertionError("no CPU time for this process")
        busy = servers.background_busy()
        if not 0 <= busy <= 100:
            raise AssertionError(f"background busy {busy}%")
    finally:
        for p in (worker, template):
            p.kill()
            p.wait()


def main():
    checks = [options_and_where_they_go, every_expected_server_is_measured_and_no_other,
              rounds_rotate_the_order, servers_commands_and_configs, a_server_is_started_and_stopped_by_pid,
              memory_and_cpu_of_a_master_and_its_workers]
    run_checks("driver", checks)


if __name__ == "__main__":
    main()
