"""The supervisor against a hostile tenant and a careless operator (issue 13):
a tenant who may write its socket's directory cannot make root follow a
symlink; a supervisor removes only the sockets it bound, refuses to share a
live runtime-dir and makes a removed one again; `check` warns about socket
directories others may write; `status` shows any bytes of a URL safely;
`stop` returns once the supervisor is gone; a FastCGI frontend that asks for
a role we do not play, or for our limits, gets libfcgi's answers.

Users: wfpm-ta (the tenant; support/users.py).
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import stat  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from urllib.parse import quote  # noqa: E402

from support.clients import (FcgiClosed, FcgiConnectError, fcgi_pair, fcgi_record, fcgi_request,  # noqa: E402
                             proc_get)
from support.files import Scratch, install_apps  # noqa: E402
from support.load import slow_request  # noqa: E402
from support.paths import WORKER  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.sockets import listen_ready  # noqa: E402
from support.supervisor import Supervisor, stop_and_check, wsgi_fpm  # noqa: E402
from support.users import TA, ensure_tenants  # noqa: E402
from support.waiting import wait_for  # noqa: E402
from support.yaml_config import copy_config, one_pool, small_config, write_config  # noqa: E402

SECRET = b"root's eyes only\n"


def tenant_directory(scratch, name):
    """A directory the tenant owns and may write, as a careless host makes."""
    d = scratch.sub(name)
    pw = pwd.getpwnam(TA)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    os.chmod(d, 0o755)
    return d


def root_secret(scratch):
    path = scratch.file("secret")
    with open(path, "wb") as f:
        f.write(SECRET)
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)
    return path


def untouched(secret):
    st = os.lstat(secret)
    if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (0, 0, 0o600):
        raise AssertionError(f"{secret} is now uid {st.st_uid} gid {st.st_gid} mode "
                             f"{stat.S_IMODE(st.st_mode):04o}: root followed the tenant's symlink")


def as_tenant(code):
    """Runs Python `code` as the tenant: its moves in its own directory."""
    pw = pwd.getpwnam(TA)
    return subprocess.run([sys.executable, "-c", code], user=pw.pw_uid, group=pw.pw_gid, extra_groups=[],
                          capture_output=True, timeout=30)


def symlink_over(path, target):
    r = as_tenant(f"import os; os.symlink({target!r}, {path!r} + '.x'); os.rename({path!r} + '.x', {path!r})")
    if r.returncode != 0:
        raise AssertionError(f"the tenant could not swap {path}: {r.stderr.decode(errors='replace')}")


def reload_never_follows_a_symlink():
    """The tenant renames a symlink to a root-only file over its pool's socket;
    the operator then reloads with a new socket-mode. The file stays root's
    0600 (the reload says the socket is in the way), and once the tenant
    clears the way a reload binds the socket again, as configured."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-hard-symlink-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    run = tenant_directory(scratch, "tenant-run")
    secret = root_secret(scratch)
    sock = os.path.join(run, "p.sock")
    pool = one_pool(scratch, apps, "p", listen=sock, **{"socket-user": TA, "socket-mode": "0600"})
    sup = Supervisor(scratch, small_config(scratch, {"p": pool}))
    symlink_over(sock, secret)
    config = copy_config(sup.config)
    config["pools"]["p"]["socket-mode"] = "0660"
    sup.rewrite(config)
    r = sup.ctl("reload")
    untouched(secret)
    err = r.stderr.decode(errors="replace")
    if r.returncode == 0 or "not a socket" not in err:
        raise AssertionError(f"reload over a planted symlink: exit {r.returncode}, stderr {err!r}")
    try:
        reached = proc_get(sup, "p")[0] == 200
    except (FcgiConnectError, FcgiClosed):
        reached = False
    if reached:
        raise AssertionError("a request reached the pool through the tenant's symlink")
    os.unlink(sock)
    r = sup.ctl("reload")
    if r.returncode != 0:
        raise AssertionError(f"reload once the way was clear: {r.stderr.decode(errors='replace')}")
    wait_for(lambda: listen_ready(sock), 20, what="the pool's socket bound again")
    st = os.lstat(sock)
    if not stat.S_ISSOCK(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o660 or st.st_uid != pwd.getpwnam(TA).pw_uid:
        raise AssertionError(f"the new socket: mode {st.st_mode:o}, uid {st.st_uid}")
    status, info = proc_get(sup, "p")
    if status != 200:
        raise AssertionError(f"the pool after its socket was bound again: {status} {info}")
    with open("/proc/net/unix") as f:  # ss and lsof show the configured path
        if not any(line.split()[7:8] == [sock] for line in f.readlines()[1:]):
            raise AssertionError(f"/proc/net/unix does not list {sock}")
    untouched(secret)
    stop_and_check(sup, sup.workers(), [sock, sup.control_socket])


def starts_under_a_symlink_race():
    """While the tenant keeps renaming symlinks to a root-only file over the
    socket's path, the supervisor starts and stops 15 times: the file is never
    chowned or chmodded (before the fix, bind() then chown(path) gave it to
    the tenant within about 120 starts)."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-hard-race-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    run = tenant_directory(scratch, "tenant-run")
    secret = root_secret(scratch)
    sock = os.path.join(run, "p.sock")
    attacker = subprocess.Popen(
        [sys.executable, "-c", f"""
import os, time
end = time.monotonic() + 40
while time.monotonic() < end and not os.path.exists({scratch.file('stop-attack')!r}):
    try:
        os.symlink({secret!r}, {sock!r} + '.x')
        os.rename({sock!r} + '.x', {sock!r})
    except OSError:
        pass
"""], user=pwd.getpwnam(TA).pw_uid, group=pwd.getpwnam(TA).pw_gid, extra_groups=[])
    try:
        pool = one_pool(scratch, apps, "p", listen=sock, processes=1, threads=1,
                        **{"socket-user": TA, "socket-mode": "0666"})
        for i in range(15):
            sup = Supervisor(scratch, small_config(scratch, {"p": pool}), name=f"s{i}", wait=False)
            wait_for(lambda: not sup.alive() or os.path.exists(sup.control_socket), 20,
                     what="the supervisor to start or give up")
            sup.stop()
            untouched(secret)
    finally:
        open(scratch.file("stop-attack"), "w").close()
        attacker.wait(45)


def check_warns_about_socket_directories():
    """`wsgi-fpm check` accepts the file but warns, with file:line:col, about a
    socket directory the tenant owns; a root-only one draws no warning."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-hard-check-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    run = tenant_directory(scratch, "tenant-run")
    safe = scratch.sub("safe-run")
    os.chmod(safe, 0o755)
    config = small_config(scratch, {
        "open": one_pool(scratch, apps, "open", listen=os.path.join(run, "open.sock")),
        "closed": one_pool(scratch, apps, "closed", listen=os.path.join(safe, "closed.sock")),
    })
    path = scratch.file("check.yaml")
    write_config(path, config)
    r = wsgi_fpm("check", "-c", path)
    err = r.stderr.decode(errors="replace")
    if r.returncode != 0:
        raise AssertionError(f"check refused a valid file: {err}")
    warnings = [line for line in err.splitlines() if "warning:" in line]
    if not any(run in line and TA in line and line.startswith(path + ":") for line in warnings):
        raise AssertionError(f"no file:line:col warning about {run} owned by {TA}: {err!r}")
    if any(safe + " " in line for line in warnings):
        raise AssertionError(f"a warning about the root-only {safe}: {err!r}")


def stopping_supervisor_spares_a_newer_socket():
    """Supervisor A's pool socket is removed and supervisor B binds the same
    path; A then stops: B's socket stays and B keeps serving."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-hard-inode-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    sock = os.path.join(scratch.sub("run"), "p.sock")
    pool = one_pool(scratch, apps, "p", listen=sock, processes=1)
    a = Supervisor(scratch, dict(small_config(scratch, {"p": pool}), **{"runtime-dir": scratch.file("ra")}),
                   name="a")
    os.unlink(sock)
    b = Supervisor(scratch, dict(small_config(scratch, {"p": pool}), **{"runtime-dir": scratch.file("rb")}),
                   name="b")
    b_workers = b.workers()
    stop_and_check(a, a.workers(), [a.control_socket])
    if not os.path.exists(sock):
        raise AssertionError(f"supervisor a removed {sock}, which supervisor b had bound")
    status, info = proc_get(b, "p")
    if status != 200 or info.get("pid") not in b_workers:
        raise AssertionError(f"b after a stopped: {status} {info}, b's workers {b_workers}")
    stop_and_check(b, b_workers, [sock, b.control_socket])


def second_supervisor_refuses_a_live_runtime_dir():
    """The control socket is removed under a running supervisor: it binds it
    again, and a second supervisor on the same runtime-dir refuses to start,
    naming the first."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-hard-second-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    pool = one_pool(scratch, apps, "p", processes=1)
    a = Supervisor(scratch, small_config(scratch, {"p": pool}), name="a")
    os.unlink(a.control_socket)
    wait_for(lambda: a.ctl("status").returncode == 0, 10, what="status answered again")
    pool2 = dict(pool, listen=os.path.join(scratch.sub("run2"), "p.sock"))
    b = Supervisor(scratch, small_config(scratch, {"p": pool2}), name="b", wait=False)
    rc = b.wait(15)
    err = b.stderr()
    if rc in (None, 0) or f"another supervisor (pid {a.pid})" not in err:
        raise AssertionError(f"a second supervisor on {a.runtime_dir}: exit {rc}, stderr {err[-600:]!r}")
    stop_and_check(a, a.workers(), [a.control_socket, a.listen_of("p")])


def removed_runtime_dir_is_made_again():
    """rm -rf of the runtime-dir under a running supervisor: the directory,
    the control socket and the pool socket in it come back; status, reload,
    requests and stop work as before."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-hard-rundir-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    pool = one_pool(scratch, apps, "p", processes=1)
    del pool["listen"]  # <runtime-dir>/p.sock
    sup = Supervisor(scratch, small_config(scratch, {"p": pool}))
    sock = sup.listen_of("p")
    shutil.rmtree(sup.runtime_dir)
    wait_for(lambda: sup.ctl("status").returncode == 0, 10, what="status answered after rm -rf runtime-dir")
    wait_for(lambda: listen_ready(sock), 20, what=f"{sock} bound again")
    status, info = proc_get(sup, "p")
    if status != 200:
        raise AssertionError(f"a request after the runtime-dir came back: {status} {info}")
    r = sup.ctl("reload")
    if r.returncode != 0:
        raise AssertionError(f"reload after the runtime-dir came back: {r.stderr.decode(errors='replace')}")
    if "runtime-dir" not in sup.stderr() or "was removed" not in sup.stderr():
        raise AssertionError(f"the log does not say the runtime-dir was removed:\n{sup.stderr_tail()}")
    stop_and_check(sup, sup.workers(), [sock, sup.control_socket], how=lambda: sup.ctl("stop"))


def status_shows_any_bytes_safely():
    """A request in flight whose URL holds an escape sequence and bytes that
    are not UTF-8: `status --json` is valid UTF-8 JSON, and the text form
    has no control character in it."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-hard-status-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    sup = Supervisor(scratch, small_config(scratch, {"p": one_pool(scratch, apps, "p", processes=1)}))
    marker = os.path.join(apps, "markers", f"slow-{uuid.uuid4().hex}")
    uri = f"/proc/slow?ms=2500&started={quote(marker, safe='')}&x=\x1b[2J\x1b]0;owned\x07\xff\xfe\x9b31m"
    th = threading.Thread(target=lambda: fcgi_request(sup.listen_of("p"), uri, timeout=30), daemon=True)
    th.start()
    wait_for(lambda: os.path.exists(marker), 10, what="the slow request to start")
    r = sup.ctl("status", "--json")
    doc = json.loads(r.stdout.decode("utf-8", errors="strict"))
    urls = [f["url"] for p in doc["pools"] for w in p["workers"] for f in w["in_flight"]]
    if not any("\ufffd" in u and "\x1b[2J" in u for u in urls):
        raise AssertionError(f"the URL in flight, as JSON: {urls!r}")
    text = sup.ctl("status").stdout
    bad = [c for c in text if c < 0x20 and c not in (0x0a,)] + ([0x7f] if b"\x7f" in text else [])
    if bad or b"\\x1b[2J" not in text:
        raise AssertionError(f"status shows raw control bytes {bad!r}: {text!r}")
    text.decode("utf-8", errors="strict")
    th.join(30)
    stop_and_check(sup, sup.workers(), [sup.control_socket])


def stop_returns_once_the_supervisor_is_gone():
    """`wsgi-fpm stop` with a 1.5 s request in flight returns only after the
    supervisor has exited; with --no-wait it returns while it still drains."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-hard-stop-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    for no_wait in (False, True):
        pool = one_pool(scratch, apps, "p", processes=1)
        sup = Supervisor(scratch, small_config(scratch, {"p": pool}), name=f"s{int(no_wait)}")
        th, result = slow_request(sup, "p", 1500, apps)
        r = sup.ctl("stop", *(["--no-wait"] if no_wait else []))
        gone = sup.popen.poll() is not None
        if r.returncode != 0:
            raise AssertionError(f"stop: {r.stderr.decode(errors='replace')}")
        if gone == no_wait:
            raise AssertionError(f"stop{' --no-wait' if no_wait else ''} returned while the supervisor "
                                 f"was {'gone' if gone else 'still running'}")
        sup.wait(30)
        th.join(30)
        if result.get("resp", (None,))[0] != 200:
            raise AssertionError(f"the request in flight: {result}")


def background_program_does_not_hold_the_stop():
    """An app starts a program in the background (`sleep 120`, which
    inherits the worker's stdout and stderr) and its process is then replaced
    (maximum-requests 1): the pool serves from the new process, and a stop
    returns in seconds, leaving neither worker nor program behind. Before,
    the supervisor waited for the end of the worker's pipes, which the
    program held: the stop took as long as the program ran."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-hard-orphan-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    pool = one_pool(scratch, apps, "p", processes=1, **{"maximum-requests": 1})
    sup = Supervisor(scratch, small_config(scratch, {"p": pool}))
    before = sup.wait_settled("p")
    status, body = proc_get(sup, "p", "/spawn?seconds=120")
    if status != 200:
        raise AssertionError(f"/spawn: {status} {body}")
    program = body["pid"]
    after = wait_for(lambda: (p := sup.settled("p")) and p != before and p, 15,
                     what="the process that served its one request to be replaced")
    status, body = proc_get(sup, "p", "/proc/")
    if status != 200 or body["pid"] != after[0]:
        raise AssertionError(f"the new process did not serve: {status} {body}")
    if not os.path.exists(f"/proc/{program}"):
        raise AssertionError("the background program is gone already: the test proves nothing")
    started = time.monotonic()
    stop_and_check(sup, after, [sup.listen_of("p")])
    wait_for(lambda: not os.path.exists(f"/proc/{program}") or
             open(f"/proc/{program}/stat").read().split(") ")[-1].startswith("Z"), 10,
             what="the background program to be ended with the supervisor")
    print(f"  stopped in {time.monotonic() - started:.1f} s", file=sys.stderr)


def worker_exit_statuses_are_named():
    """A worker's exit status says why it ended (wsgi-fpm(8), WORKER EXIT
    STATUS), in numbers an app's own os._exit() rarely uses: a bad command
    line is 64 (EX_USAGE), and the supervisor's log spells ours out."""
    r = subprocess.run([WORKER, "--no-such-option", "1"], capture_output=True, timeout=30)
    if r.returncode != 64 or b"unknown option --no-such-option" not in r.stderr:
        raise AssertionError(f"a bad command line: exit {r.returncode}, {r.stderr[-300:]!r}")
    r = subprocess.run([WORKER, "--pool", "p"], capture_output=True, timeout=30)
    if r.returncode != 64 or b"no application" not in r.stderr:
        raise AssertionError(f"no app: exit {r.returncode}, {r.stderr[-300:]!r}")


def fastcgi_records(sock, out, timeout=5):
    """Sends `out`, reads records until EOF or `timeout`: (records, closed)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock)
    s.sendall(out)
    data, closed = b"", False
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                closed = True
                break
            data += chunk
    except socket.timeout:
        pass
    finally:
        s.close()
    records = []
    while len(data) >= 8:
        _, rtype, rid, clen, plen = struct.unpack("!BBHHB", data[:7])
        records.append((rtype, rid, data[8:8 + clen]))
        data = data[8 + clen + plen:]
    return records, closed


def fastcgi_roles_and_values():
    """An AUTHORIZER request without FCGI_KEEP_CONN gets END_REQUEST with
    UNKNOWN_ROLE and the connection closes; FCGI_GET_VALUES is answered with
    FCGI_MAX_CONNS (maximum-connections), FCGI_MAX_REQS (threads) and
    FCGI_MPXS_CONNS 0."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-hard-fcgi-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    sup = Supervisor(scratch, small_config(scratch, {"p": one_pool(scratch, apps, "p", processes=1,
                                                                            threads=3,
                                                                            **{"maximum-connections": 40})}))
    sock = sup.listen_of("p")
    records, closed = fastcgi_records(sock, fcgi_record(1, struct.pack("!HB5x", 2, 0)))
    if not closed or len(records) != 1 or records[0][0] != 3 or records[0][2][4] != 3:
        raise AssertionError(f"an AUTHORIZER request: records {records!r}, closed {closed}")
    asked = b"".join(fcgi_pair(n, b"") for n in (b"FCGI_MAX_CONNS", b"FCGI_MAX_REQS", b"FCGI_MPXS_CONNS"))
    records, _ = fastcgi_records(sock, fcgi_record(9, asked, request_id=0), timeout=2)
    if not records or records[0][0] != 10:
        raise AssertionError(f"GET_VALUES: {records!r}")
    content, values = records[0][2], {}
    while content:
        n, v = content[0], content[1]
        values[content[2:2 + n]] = content[2 + n:2 + n + v]
        content = content[2 + n + v:]
    want = {b"FCGI_MAX_CONNS": b"40", b"FCGI_MAX_REQS": b"3", b"FCGI_MPXS_CONNS": b"0"}
    if values != want:
        raise AssertionError(f"GET_VALUES answered {values!r}, expected {want!r}")
    stop_and_check(sup, sup.workers(), [sock])


def slow_clients_hold_no_thread():
    """A 2 x 4 pool with 40 connections that send nothing and 40 that send
    half a request head: 60 real requests still get their 200 at once, and
    the stalled connections are closed after request-read-timeout (2 s), the
    log saying why. Before, 8-20 such connections froze the pool for
    socket-timeout."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-hard-slow-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    pool = one_pool(scratch, apps, "p", processes=2, threads=4, **{"request-read-timeout": 2})
    sup = Supervisor(scratch, small_config(scratch, {"p": pool}))
    sock = sup.listen_of("p")
    head = fcgi_record(1, struct.pack("!HB5x", 1, 0)) + fcgi_record(4, fcgi_pair(b"REQUEST_URI", b"/x") * 20)
    stalled = []
    try:
        for i in range(80):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.settimeout(10)
            c.connect(sock)
            if i % 2:
                c.sendall(head[:len(head) // 2])
            stalled.append(c)
        started = time.monotonic()
        codes = [proc_get(sup, "p", timeout=10)[0] for _ in range(60)]
        took = time.monotonic() - started
        if codes.count(200) != 60:
            raise AssertionError(f"with 80 stalled connections: {sorted(set(codes))}")
        if took > 1.5:
            raise AssertionError(f"60 requests took {took:.1f} s beside 80 stalled connections")
        closed = 0
        for c in stalled:
            try:
                closed += c.recv(1) == b""
            except OSError:
                pass
        if closed != len(stalled):
            raise AssertionError(f"{closed} of {len(stalled)} stalled connections closed after request-read-timeout")
        wait_for(lambda: "request-read-timeout" in sup.stderr(), 5, what="the log to say request-read-timeout")
    finally:
        for c in stalled:
            c.close()
    stop_and_check(sup, sup.workers(), [sock])


def main():
    runner = Runner(budget=420)
    runner.add("hardening/reload_never_follows_a_symlink", reload_never_follows_a_symlink)
    runner.add("hardening/starts_under_a_symlink_race", starts_under_a_symlink_race)
    runner.add("hardening/check_warns_about_socket_directories", check_warns_about_socket_directories)
    runner.add("hardening/stopping_supervisor_spares_a_newer_socket", stopping_supervisor_spares_a_newer_socket)
    runner.add("hardening/second_supervisor_refuses_a_live_runtime_dir",
               second_supervisor_refuses_a_live_runtime_dir)
    runner.add("hardening/removed_runtime_dir_is_made_again", removed_runtime_dir_is_made_again)
    runner.add("hardening/status_shows_any_bytes_safely", status_shows_any_bytes_safely)
    runner.add("hardening/stop_returns_once_the_supervisor_is_gone", stop_returns_once_the_supervisor_is_gone)
    runner.add("hardening/fastcgi_roles_and_values", fastcgi_roles_and_values)
    runner.add("hardening/slow_clients_hold_no_thread", slow_clients_hold_no_thread)
    runner.add("hardening/background_program_does_not_hold_the_stop", background_program_does_not_hold_the_stop)
    runner.add("hardening/worker_exit_statuses_are_named", worker_exit_statuses_are_named)
    runner.main()


if __name__ == "__main__":
    main()
