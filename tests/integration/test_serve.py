"""The life of `wsgi-fpm serve` as an operator sees it: who the workers run as,
what the socket looks like, that idle workers cost nothing, that SIGTERM lets a
request in flight finish, and that a root-owned script is not run as root by
accident.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import stat  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from urllib.parse import quote  # noqa: E402

from support.clients import cli_request, fcgi_request, get  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.frontends import start_frontend  # noqa: E402
from support.paths import ETC  # noqa: E402
from support.processes import cpu_ticks, exe_name, proc_ids  # noqa: E402
from support.runner import Group, Runner  # noqa: E402
from support.supervisor import Serve  # noqa: E402
from support.users import FRONTEND_USER, TEST_USER  # noqa: E402
from support.waiting import wait_for  # noqa: E402


def two_process_pool(on_close):
    """dispatch.wsgi owned by wfpm-test, no --user: the owner runs it."""
    scratch = Scratch(prefix="wfpm-serve-pool-")
    apps = install_apps(scratch)
    serve = Serve(scratch, os.path.join(apps, "dispatch.wsgi"), name="pool",
                  args=["--processes", "2", "--threads", "15",
                        "--socket-user", FRONTEND_USER])
    on_close(serve.kill)
    return serve


def workers_of(serve, count):
    """The worker pids, once `count` of them are up (bounded wait)."""
    return wait_for(lambda: len(serve.workers()) == count and serve.workers(), 15,
                    what=f"{count} worker processes (have {serve.workers()})")


def environ_says_two_processes(group):
    serve = group.get()
    status, _, body = cli_request(f"unix:{serve.socket_path}", "/echo")
    env = json.loads(body) if status == 200 else {}
    want = {"mod_wsgi.process_group": "dispatch", "wsgi.multiprocess": True,
            "wsgi.multithread": True}
    got = {k: env.get(k) for k in want}
    if got != want:
        raise AssertionError(f"expected {want}, got {got} (status {status})")


def workers_run_as_script_owner(group):
    """Without --user, root's serve runs the workers as the script's owner,
    with that user's group and no other, and no way back to root."""
    serve = group.get()
    pw = pwd.getpwnam(TEST_USER)
    pids = workers_of(serve, 2)
    for pid in pids:
        uids, gids, groups = proc_ids(pid)
        if set(uids) != {pw.pw_uid} or set(gids) != {pw.pw_gid} or set(groups) - {pw.pw_gid}:
            raise AssertionError(f"worker {pid}: uids {uids}, gids {gids}, groups {groups}; "
                                 f"expected all {pw.pw_uid}/{pw.pw_gid}")


def socket_owner_and_mode(group):
    """--socket-user www-data: owned by www-data, the pool's group, mode 0660."""
    serve = group.get()
    st = os.stat(serve.socket_path)
    want = (pwd.getpwnam(FRONTEND_USER).pw_uid, pwd.getpwnam(TEST_USER).pw_gid, 0o660)
    got = (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))
    if not stat.S_ISSOCK(st.st_mode) or got != want:
        raise AssertionError(f"socket uid/gid/mode {got[0]}/{got[1]}/{oct(got[2])}, "
                             f"expected {want[0]}/{want[1]}/{oct(want[2])}")


def idle_workers_use_no_cpu(group):
    """After a request or two, idle workers (and the supervisor) stay off the CPU:
    utime + stime over 2 s grows by at most one tick each."""
    serve = group.get()
    pids = workers_of(serve, 2)
    for _ in range(4):  # warm every worker up that takes one
        cli_request(f"unix:{serve.socket_path}", "/hello")
    time.sleep(1.0)
    watched = {pid: f"worker {pid}" for pid in pids}
    watched[serve.pid] = f"supervisor {serve.pid}"
    before = {pid: cpu_ticks(pid) for pid in watched}
    time.sleep(2.0)
    after = {pid: cpu_ticks(pid) for pid in watched}
    busy = [f"{watched[p]}: {after[p] - before[p]} ticks" for p in watched if after[p] - before[p] > 1]
    if busy:
        raise AssertionError("busy while idle: " + ", ".join(busy))


def pool_graceful_stop(group):
    try:
        serve = group.get()
        pids = serve.workers()
        rc = serve.stop()
        if rc != 0:
            raise AssertionError(f"serve exited with {rc} on SIGTERM:\n{serve.stderr_tail()}")
        if os.path.exists(serve.socket_path):
            raise AssertionError(f"{serve.socket_path} left behind")
        alive = [p for p in pids if os.path.exists(f"/proc/{p}")
                 and exe_name(p).startswith("wsgi-fpm-worker")]
        if alive:
            raise AssertionError(f"workers {alive} outlived serve")
    finally:
        group.close()


def sigterm_finishes_request_in_flight():
    """A request sleeping 1 s is in flight behind nginx when serve gets SIGTERM:
    it still gets its 200, then serve exits 0 and removes its socket."""
    scratch = Scratch(prefix="wfpm-serve-sigterm-")
    apps = install_apps(scratch)
    serve = Serve(scratch, os.path.join(apps, "dispatch.wsgi"), name="serve",
                  args=["--threads", "2", "--user", TEST_USER,
                        "--socket-user", FRONTEND_USER])
    nginx = start_frontend(scratch, "nginx", "wsgi-fpm-fastcgi.conf", serve.socket_path)
    marker = os.path.join(apps, "markers", f"started-{uuid.uuid4().hex}")
    result = {}

    def slow():
        try:
            result["resp"] = get(nginx.port, "/slow?ms=1000&id=inflight&started="
                                 + quote(marker, safe=""), timeout=30)
        except Exception as e:  # reported below
            result["error"] = e

    t = threading.Thread(target=slow, daemon=True)
    t.start()
    wait_for(lambda: os.path.exists(marker), 10, what="the slow request to start")
    sent = time.monotonic()
    serve.send(signal.SIGTERM)
    rc = serve.wait(15)
    t.join(20)
    resp = result.get("resp")
    if resp is None or resp.status != 200 or json.loads(resp.body or b"{}").get("id") != "inflight":
        raise AssertionError(f"the request in flight got {resp or result.get('error')!r}\n"
                             f"--- serve:\n{serve.stderr_tail()}\n--- nginx:\n{nginx.error_tail()}")
    if rc is None:
        raise AssertionError(f"serve still running {time.monotonic() - sent:.1f}s after SIGTERM")
    if rc != 0:
        raise AssertionError(f"serve exited with {rc}:\n{serve.stderr_tail()}")
    if os.path.exists(serve.socket_path):
        raise AssertionError(f"{serve.socket_path} left behind")
    nginx.stop()


def root_owned_script_refused():
    """As root, a root-owned script with neither --user nor --allow-root is refused."""
    scratch = Scratch(prefix="wfpm-serve-root-")
    script = os.path.join(scratch.sub("apps"), "hello.wsgi")
    shutil.copy(os.path.join(ETC, "examples", "hello.wsgi"), script)
    os.chown(script, 0, 0)
    serve = Serve(scratch, script, name="serve", wait=False)
    rc = serve.wait(15)
    if rc is None:
        raise AssertionError("serve runs a root-owned script as root without --allow-root")
    if rc == 0:
        raise AssertionError("serve exited 0 instead of refusing")
    if not serve.stderr().strip():
        raise AssertionError("refused without saying why on stderr")
    if os.path.exists(serve.socket_path):
        raise AssertionError(f"{serve.socket_path} left behind by a refused start")


def serve_takes_the_pool_keys_of_the_file():
    """`serve --process-manager ondemand --process-idle-timeout 2
    --maximum-requests 2`, keys `serve` never had options of its own for: no
    process until the first request, a new one after two requests, none
    after two idle seconds."""
    scratch = Scratch(prefix="wfpm-serve-keys-")
    apps = install_apps(scratch)
    serve = Serve(scratch, os.path.join(apps, "procinfo.wsgi"), name="keys", wait=False,
                  args=["--threads", "1", "--process-manager", "ondemand", "--process-idle-timeout", "2",
                        "--maximum-requests", "2"])
    try:
        # Connecting to see it listen would be demand: watch the file instead.
        wait_for(lambda: os.path.exists(serve.socket_path) and stat.S_ISSOCK(os.stat(serve.socket_path).st_mode),
                 20, what="serve's socket")
        time.sleep(1.5)
        if serve.workers():
            raise AssertionError(f"ondemand serve runs {serve.workers()} before any request")

        def pid_of_one_request():
            resp = fcgi_request(serve.socket_path, "/")
            if resp.status != 200:
                raise AssertionError(f"got {resp.status} {resp.body[:200]!r}")
            return json.loads(resp.body)["pid"]

        first, second = pid_of_one_request(), pid_of_one_request()
        if first != second:
            raise AssertionError(f"one single-thread ondemand process, yet served by {first} and {second}")
        # The retiring process serves on until its successor is ready.
        wait_for(lambda: pid_of_one_request() != first, 10, interval=0.1,
                 what="maximum-requests 2 to bring a new process")
        wait_for(lambda: not serve.workers(), 10, what="the idle process to stop")
    finally:
        serve.kill()


def serve_says_which_option_is_wrong():
    """Every bad option is reported with the option itself, and nothing starts."""
    scratch = Scratch(prefix="wfpm-serve-bad-")
    apps = install_apps(scratch)
    serve = Serve(scratch, os.path.join(apps, "procinfo.wsgi"), name="bad", wait=False,
                  args=["--threads", "0", "--thread", "2", "--maximum-requests", "many"])
    rc = serve.wait(15)
    err = serve.stderr()
    if rc != 1:
        raise AssertionError(f"serve exited {rc} on bad options:\n{err}")
    for want in ("wsgi-fpm serve: --threads 0: 'threads' must be between 1 and 1024, not 0",
                 "wsgi-fpm serve: --thread 2: unknown option --thread (did you mean --threads?)",
                 "wsgi-fpm serve: --maximum-requests many: 'maximum-requests' must be an integer"):
        if want not in err:
            raise AssertionError(f"stderr lacks {want!r}:\n{err}")
    if os.path.exists(serve.socket_path):
        raise AssertionError("a refused serve left its socket")


def main():
    runner = Runner(budget=500)
    group = Group(two_process_pool)
    runner.add("serve/environ_multiprocess", lambda: environ_says_two_processes(group))
    runner.add("serve/workers_run_as_script_owner", lambda: workers_run_as_script_owner(group))
    runner.add("serve/socket_owner_and_mode", lambda: socket_owner_and_mode(group))
    runner.add("serve/idle_workers_use_no_cpu", lambda: idle_workers_use_no_cpu(group))
    runner.add("serve/graceful_stop_leaves_nothing", lambda: pool_graceful_stop(group))
    runner.add("serve/sigterm_finishes_request_in_flight", sigterm_finishes_request_in_flight)
    runner.add("serve/root_owned_script_refused", root_owned_script_refused)
    runner.add("serve/takes_the_pool_keys_of_the_file", serve_takes_the_pool_keys_of_the_file)
    runner.add("serve/says_which_option_is_wrong", serve_says_which_option_is_wrong)
    runner.main()


if __name__ == "__main__":
    main()
