"""The supervisor, `wsgi-fpm run -c FILE`, as an operator of a shared host
sees it: two tenants' pools running as their own users, sockets only the
right users can reach, a worker killed under load, reloads (good, broken and
by SIGHUP), touched scripts, recycling, status, logs and a clean stop.

Users (made once with useradd, kept): wfpm-ta and wfpm-tb, both members of
wfpm-tshared; wfpm-textra is added to ta's pool by `supplementary-groups:`,
and tb's pool runs with `group: wfpm-tbgrp`. The shared supervisor runs:
  ta   wfpm-ta, processes 2 x threads 4, socket ta.sock wfpm-ta 0600, error-log
  tb   wfpm-tb, processes 1 x threads 2, default listen <runtime-dir>/tb.sock
       owned www-data:wfpm-tb 0660
  tc   wfpm-tb, no `processes`, threads 1, SCGI on 127.0.0.1:PORT,
       display-name wfpm-tc-worker
each with tests/apps/procinfo.wsgi at /proc and dispatch.wsgi at /.
"""
import sys

sys.dont_write_bytecode = True

import grp  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from urllib.parse import quote  # noqa: E402

from support.clients import fcgi_request, proc_get, split_response  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.load import Load, describe, failures, slow_request  # noqa: E402
from support.paths import SOURCE  # noqa: E402
from support.processes import proc_ids  # noqa: E402
from support.runner import Group, Runner  # noqa: E402
from support.sockets import free_port, listen_ready  # noqa: E402
from support.supervisor import Supervisor, stop_and_check, worker_alive, wsgi_fpm  # noqa: E402
from support.users import (EXTRA, FRONTEND_USER, SHARED, TA, TB, TBGROUP, TEST_USER, chown_tree,  # noqa: E402
                           ensure_tenants)
from support.waiting import wait_for  # noqa: E402
from support.yaml_config import apps_of, copy_config, one_pool, small_config, write_config  # noqa: E402

GREETING = b"Hello from wsgi-fpm!\n"


def ps_args(pid):
    r = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True,
                       timeout=10)
    return r.stdout.strip()


def replaced(sup, pool, old):
    """The pool's settled pids once none of `old` is among them, else None."""
    pids = sup.settled(pool)
    return pids if pids and not set(pids) & set(old) else None


# --------------------------------------------------------------------------
# The shared supervisor


class Tenants:
    def __init__(self, on_close):
        ensure_tenants()
        self.scratch = Scratch(prefix="wfpm-supervisor-")
        self.ta_apps = install_apps(self.scratch, owner=TA, subdir="ta")
        self.tb_apps = install_apps(self.scratch, owner=TB, subdir="tb")
        run = self.scratch.sub("run")
        self.logs = self.scratch.sub("logs")
        self.port = free_port()
        self.config = {
            "runtime-dir": self.scratch.file("runtime"),
            "log": "stderr",
            "pools": {
                "ta": {"user": TA, "supplementary-groups": [EXTRA], "processes": 2, "threads": 4,
                       "listen": os.path.join(run, "ta.sock"), "socket-user": TA,
                       "socket-mode": "0600", "graceful-timeout": 10,
                       "error-log": os.path.join(self.logs, "ta.log"),
                       "home": self.ta_apps, "apps": apps_of(self.ta_apps)},
                "tb": {"user": TB, "group": TBGROUP, "processes": 1, "threads": 2,
                       "socket-user": FRONTEND_USER, "socket-group": TB, "socket-mode": "0660",
                       "home": self.tb_apps, "apps": apps_of(self.tb_apps)},
                "tc": {"user": TB, "threads": 1, "listen": f"127.0.0.1:{self.port}",
                       "protocol": "scgi", "display-name": "wfpm-tc-worker",
                       "home": self.tb_apps, "apps": apps_of(self.tb_apps)},
            },
        }
        self.sup = Supervisor(self.scratch, self.config)
        on_close(self.sup.kill)
        self.seen_workers = set(self.sup.workers())
        self.sockets = [self.sup.listen_of("ta"), self.sup.listen_of("tb")]

    def note_workers(self):
        self.seen_workers |= set(self.sup.workers())

    def all_pids(self):
        return {name: self.sup.wait_settled(name) for name in self.sup.pools()}


def tenants_run_as_their_users(fx):
    """/proc/PID/status of each worker: uid, gid and supplementary groups are
    the pool user's (initgroups with the pool's group, plus supplementary-groups),
    and Python inside sees the same."""
    t = fx.get()
    sup = t.sup
    expectations = (("ta", TA, None, [EXTRA]), ("tb", TB, TBGROUP, []), ("tc", TB, None, []))
    for pool, user, group, extra in expectations:
        pw = pwd.getpwnam(user)
        gid = grp.getgrnam(group).gr_gid if group else pw.pw_gid
        want_groups = set(os.getgrouplist(user, gid)) | {grp.getgrnam(g).gr_gid for g in extra}
        if grp.getgrnam(SHARED).gr_gid not in want_groups:
            raise AssertionError(f"test setup: {user} is not in {SHARED}")
        pids = sup.wait_settled(pool)
        for pid in pids:
            uids, gids, groups = proc_ids(pid)
            if set(uids) != {pw.pw_uid} or set(gids) != {gid} or set(groups) != want_groups:
                raise AssertionError(
                    f"pool {pool} worker {pid}: Uid {uids} Gid {gids} Groups {sorted(groups)}; "
                    f"expected uid {pw.pw_uid}, gid {gid}, groups {sorted(want_groups)}")
        status, info = proc_get(sup, pool)
        got = (status, set(info.get("uids", [])), set(info.get("gids", [])), set(info.get("groups", [])))
        if got != (200, {pw.pw_uid}, {gid}, want_groups):
            raise AssertionError(f"pool {pool}: Python sees {info} (status {status})")
        if sup.pool_status(pool).get("user") != user:
            raise AssertionError(f"status says pool {pool} runs as {sup.pool_status(pool).get('user')!r}")


def sockets_as_configured(fx):
    """Each pool socket has the configured owner, group and mode; the runtime
    directory is root's 0755, the control socket root's 0600."""
    t = fx.get()
    sup = t.sup
    ta_pw = pwd.getpwnam(TA)
    want = {
        sup.listen_of("ta"): (ta_pw.pw_uid, ta_pw.pw_gid, 0o600, True),
        sup.listen_of("tb"): (pwd.getpwnam(FRONTEND_USER).pw_uid, grp.getgrnam(TB).gr_gid, 0o660, True),
        sup.runtime_dir: (0, 0, 0o755, False),
        sup.control_socket: (0, None, 0o600, True),
    }
    for path, (uid, gid, mode, is_sock) in want.items():
        st = os.stat(path)
        got = (st.st_uid, st.st_gid if gid is not None else None, stat.S_IMODE(st.st_mode),
               stat.S_ISSOCK(st.st_mode))
        if got != (uid, gid, mode, is_sock):
            raise AssertionError(f"{path}: uid/gid/mode/socket {got[0]}/{got[1]}/{oct(got[2])}/{got[3]}, "
                                 f"expected {uid}/{gid}/{oct(mode)}/{is_sock}")


def as_user(path, user):
    r = wsgi_fpm("request", path, "/hello", "--as-user", user)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace").strip()


def socket_permissions_between_tenants(fx):
    """ta.sock is wfpm-ta's, 0600: wfpm-tb gets EACCES, wfpm-ta gets 200. tb.sock
    is www-data:wfpm-tb 0660: nginx's www-data gets in, wfpm-ta does not."""
    t = fx.get()
    for path, allowed, refused in ((t.sup.listen_of("ta"), TA, TB),
                                   (t.sup.listen_of("tb"), FRONTEND_USER, TA)):
        rc, out, err = as_user(path, refused)
        if rc == 0 or "permission denied" not in err.lower():
            raise AssertionError(f"--as-user {refused} on {path}: exit {rc}, stderr {err!r}, "
                                 f"expected a failure with Permission denied")
        rc, out, err = as_user(path, allowed)
        if rc != 0:
            raise AssertionError(f"--as-user {allowed} on {path}: exit {rc}: {err}")
        status, _, body = split_response(out)
        if (status, body) != (200, GREETING):
            raise AssertionError(f"--as-user {allowed} on {path}: {status} {body[:200]!r}")


def wsgi_flags_follow_processes_and_threads(fx):
    """`processes` given (even 1) → wsgi.multiprocess; threads > 1 → multithread;
    mod_wsgi.process_group is the pool's name."""
    t = fx.get()
    want = {"ta": (True, True), "tb": (True, True), "tc": (False, False)}
    for pool, (mp, mt) in want.items():
        status, info = proc_get(t.sup, pool)
        got = (status, info.get("multiprocess"), info.get("multithread"), info.get("run_once"),
               info.get("process_group"))
        if got != (200, mp, mt, False, pool):
            raise AssertionError(f"pool {pool}: (status, multiprocess, multithread, run_once, "
                                 f"process_group) = {got}, expected {(200, mp, mt, False, pool)}")


def status_shows_request_in_flight(fx):
    """A 3 s request on ta shows in `status --json` with its URL and a growing
    duration on the worker that serves it; the text form shows it too; the
    pool's request counters grow."""
    t = fx.get()
    sup = t.sup
    marker = os.path.join(t.ta_apps, "markers", f"slow-{uuid.uuid4().hex}")
    uri = f"/proc/slow-one?ms=3000&started={quote(marker, safe='')}"
    result = {}

    def slow():
        try:
            result["resp"] = proc_get(sup, "ta", uri, timeout=30)
        except Exception as e:  # reported below
            result["error"] = e

    th = threading.Thread(target=slow, daemon=True)
    th.start()
    wait_for(lambda: os.path.exists(marker), 10, what="the slow request to start")
    time.sleep(0.6)
    pool = sup.pool_status("ta")
    busy = [(w, r) for w in pool["workers"] for r in w.get("in_flight", [])
            if "/proc/slow-one" in r.get("url", "")]
    text = sup.ctl("status")
    th.join(30)
    if len(busy) != 1:
        raise AssertionError(f"expected /proc/slow-one in flight once, status says {json.dumps(pool)}")
    worker, req = busy[0]
    if not (0.4 <= req.get("seconds", -1) < 3.0):
        raise AssertionError(f"in flight for {req.get('seconds')} s, expected about 0.6 s: {req}")
    if pool.get("in_flight", 0) < 1 or worker.get("busy_threads", 0) < 1:
        raise AssertionError(f"pool in_flight {pool.get('in_flight')}, worker busy_threads "
                             f"{worker.get('busy_threads')}, expected at least 1")
    status, info = result.get("resp", (None, {}))
    if status != 200 or info.get("pid") != worker["pid"]:
        raise AssertionError(f"the slow request got {result.get('resp') or result.get('error')!r}; "
                             f"status said worker {worker['pid']} served it")
    out = text.stdout.decode(errors="replace")
    if text.returncode != 0 or "/proc/slow-one" not in out or str(worker["pid"]) not in out \
            or "ta" not in out:
        raise AssertionError(f"`wsgi-fpm status` (exit {text.returncode}) does not show the pool, "
                             f"the worker and the URL in flight:\n{out}")
    before = sup.pool_status("tb")
    for _ in range(6):
        status, _ = proc_get(sup, "tb")
        if status != 200:
            raise AssertionError(f"tb answered {status}")
    after = sup.pool_status("tb")
    if after["requests"] < before["requests"] + 6:
        raise AssertionError(f"tb's requests went from {before['requests']} to {after['requests']} "
                             f"over 6 requests")
    for w in after["workers"]:
        if w.get("rss", 0) <= 0 or w.get("age", -1) < 0 or w.get("requests", 0) < 1:
            raise AssertionError(f"implausible worker status: {w}")


def display_name_in_ps(fx):
    """ps shows `(wsgi:POOL)` by default and the configured display-name otherwise."""
    t = fx.get()
    for pool, want in (("ta", "(wsgi:ta)"), ("tb", "(wsgi:tb)"), ("tc", "wfpm-tc-worker")):
        for pid in t.sup.wait_settled(pool):
            args = ps_args(pid)
            if not args.startswith(want):
                raise AssertionError(f"ps shows pool {pool}'s worker {pid} as {args!r}, expected {want!r}")


LOG_LINE = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[[a-z]+\] %s\[(\d+)\]: %s$"


def error_log_and_reopen(fx):
    """wsgi.errors of ta lands in ta's error-log as `TIME [level] ta[PID]: text`,
    a traceback too; after logrotate's move and SIGUSR1, in a new file. tb has
    no error-log: its lines go to the supervisor's log."""
    t = fx.get()
    sup = t.sup
    path = sup.pools()["ta"]["error-log"]

    def logged(msg, where):
        def read():
            try:
                with open(where, encoding="utf-8", errors="replace") as f:
                    return f.read()
            except OSError:
                return ""
        return wait_for(lambda: re.search(LOG_LINE % ("ta", re.escape(msg)), read(), re.M), 5,
                        what=f"{msg!r} in {where}:\n{read()[-1500:]}")

    msg = f"wfpm-errors-{uuid.uuid4().hex}"
    resp = fcgi_request(sup.listen_of("ta"), f"/errors?msg={msg}")
    if resp.status != 200:
        raise AssertionError(f"/errors answered {resp.status}")
    m = logged(msg, path)
    if int(m.group(1)) not in sup.pids("ta"):
        raise AssertionError(f"logged as pid {m.group(1)}, ta's workers are {sup.pids('ta')}")
    st = os.stat(path)
    if st.st_uid == pwd.getpwnam(TA).pw_uid or st.st_mode & 0o022:
        raise AssertionError(f"{path} is writable by the tenant: uid {st.st_uid} mode {oct(st.st_mode)}")
    boom = f"wfpm-boom-{uuid.uuid4().hex}"
    resp = fcgi_request(sup.listen_of("ta"), f"/raise?msg={boom}")
    if resp.status != 500:
        raise AssertionError(f"/raise answered {resp.status}")
    wait_for(lambda: f"RuntimeError: {boom}" in open(path, errors="replace").read(), 5,
             what="the traceback in ta's error-log")

    os.rename(path, path + ".1")
    sup.send(signal.SIGUSR1)
    time.sleep(0.5)
    msg2 = f"wfpm-reopened-{uuid.uuid4().hex}"
    fcgi_request(sup.listen_of("ta"), f"/errors?msg={msg2}")
    logged(msg2, path)
    if msg2 in open(path + ".1", errors="replace").read():
        raise AssertionError("after SIGUSR1 lines still go to the moved file")

    msg3 = f"wfpm-tb-errors-{uuid.uuid4().hex}"
    fcgi_request(sup.listen_of("tb"), f"/errors?msg={msg3}")
    wait_for(lambda: re.search(LOG_LINE % ("tb", re.escape(msg3)), sup.stderr(), re.M), 5,
             what=f"tb's wsgi.errors line in the supervisor's log:\n{sup.stderr_tail()}")


def kill_9_under_load(fx):
    """SIGKILL to one of ta's two workers while six clients loop on ta: a new
    pid takes its slot, the sibling keeps its pid, and only requests the killed
    worker had already accepted fail."""
    t = fx.get()
    sup = t.sup
    before = sup.wait_settled("ta")
    load = Load(sup.listen_of("ta"), "/proc/load?ms=30", threads=6)
    try:
        wait_for(lambda: set(before) <= load.pids_served(), 10,
                 what=f"both workers {before} to serve the load")
        victim, sibling = before
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        after = wait_for(lambda: replaced(sup, "ta", [victim]), 15, interval=0.1,
                         what="a new worker in the killed one's slot")
        t.note_workers()
        if sibling not in after:
            raise AssertionError(f"the sibling {sibling} is gone: ta's workers are now {after}")
        newcomer = (set(after) - {sibling}).pop()
        respawned_at = time.monotonic()
        wait_for(lambda: newcomer in load.pids_served(since=respawned_at), 10,
                 what=f"the new worker {newcomer} to serve")
        time.sleep(0.5)
    finally:
        results = load.stop()
    # A request the killed worker had accepted dies with it (its connection
    # closes): it started before the kill. Anything else is a real failure.
    own = [r for r in failures(results) if r[2] == "closed" and r[0] <= killed_at + 0.1]
    other = [r for r in failures(results) if r not in own]
    ok = len(results) - len(own) - len(other)
    print(f"# kill -9 {victim}: {ok} requests ok, {len(own)} failed on the killed worker's "
          f"connections, {len(other)} other failures; new worker {newcomer}", file=sys.stderr)
    if other:
        raise AssertionError(f"{len(other)} requests failed beyond the killed worker's own: "
                             f"{describe(other)}")
    if sibling not in load.pids_served(since=killed_at):
        raise AssertionError(f"the sibling {sibling} served nothing after the kill")
    # ta has an error-log: lines about its processes may go there or to the
    # supervisor's log.
    def logs():
        try:
            with open(sup.pools()["ta"]["error-log"], errors="replace") as f:
                return f.read() + sup.stderr()
        except OSError:
            return sup.stderr()
    wait_for(lambda: re.search(r"signal 9|SIGKILL", logs()), 5,
             what=f"the log to say the worker was killed by signal 9:\n{logs()[-2000:]}")
    pool = sup.pool_status("ta")
    if "9" not in (pool.get("last_exit") or "") or pool.get("restarts", 0) < 1:
        raise AssertionError(f"status: last_exit {pool.get('last_exit')!r}, restarts "
                             f"{pool.get('restarts')}, expected signal 9 and at least 1")


def serving_everywhere(sup):
    for pool in sup.pools():
        status, info = proc_get(sup, pool)
        if status != 200 or info.get("process_group") != pool:
            raise AssertionError(f"pool {pool} answered {status} {info}")


def broken_reload_changes_nothing(fx):
    """`wsgi-fpm reload` of an invalid file: exit 1 with FILE:LINE:COL errors,
    the same pids keep serving; SIGHUP with it: errors in the log, same again."""
    t = fx.get()
    sup = t.sup
    before = t.all_pids()
    good = sup.config
    bad = copy_config(good)
    bad["pools"]["ta"]["threads"] = "many"
    bad["pools"]["tb"]["thread"] = 3
    bad["pools"]["tc"]["processes"] = 2  # a valid change that must not happen either
    write_config(sup.config_path, bad)
    try:
        r = sup.ctl("reload")
        err = r.stderr.decode(errors="replace")
        located = re.findall(r"^%s:\d+:\d+: .+$" % re.escape(sup.config_path), err, re.M)
        if r.returncode != 1 or len(located) < 2:
            raise AssertionError(f"reload of an invalid file: exit {r.returncode}, expected 1 and "
                                 f"two FILE:LINE:COL errors; stderr:\n{err}")
        time.sleep(1.5)
        if t.all_pids() != before:
            raise AssertionError(f"pids changed from {before} to {t.all_pids()}")
        serving_everywhere(sup)
        if sup.pool_status("ta").get("threads") != good["pools"]["ta"]["threads"]:
            raise AssertionError(f"ta's threads changed: {sup.pool_status('ta')}")

        mark = len(sup.stderr())
        sup.send(signal.SIGHUP)
        wait_for(lambda: re.search(r"%s:\d+:\d+: " % re.escape(sup.config_path), sup.stderr()[mark:]),
                 5, what=f"SIGHUP's errors in the log:\n{sup.stderr_tail()}")
        time.sleep(1.5)
        if not sup.alive() or t.all_pids() != before:
            raise AssertionError(f"after SIGHUP with an invalid file: alive {sup.alive()}, "
                                 f"pids {t.all_pids()} (were {before})")
        serving_everywhere(sup)
    finally:
        write_config(sup.config_path, good)


def finished_200(th, result, old_pids, what):
    th.join(60)
    status, info = result.get("resp", (None, {}))
    if status != 200 or info.get("pid") not in old_pids:
        raise AssertionError(f"{what}: the request in flight got "
                             f"{result.get('resp') or result.get('error')!r}, expected 200 from {old_pids}")


def reload_adds_changes_and_leaves_alone(fx):
    """reload with tb's threads 2 → 3 and a new pool td: tb's process is
    replaced (its request in flight finishes), td starts and serves, ta and tc
    keep their pids."""
    t = fx.get()
    sup = t.sup
    before = t.all_pids()
    th, result = slow_request(sup, "tb", 1500, t.tb_apps)
    config = copy_config(sup.config)
    config["pools"]["tb"]["threads"] = 3
    config["pools"]["td"] = {"user": TA, "processes": 1, "threads": 2,
                             "listen": os.path.join(t.scratch.sub("run"), "td.sock"),
                             "home": t.ta_apps, "apps": apps_of(t.ta_apps)}
    sup.rewrite(config)
    r = sup.ctl("reload")
    if r.returncode != 0:
        raise AssertionError(f"reload exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    tb = wait_for(lambda: replaced(sup, "tb", before["tb"]), 20, interval=0.1,
                  what=f"tb's process {before['tb']} to be replaced")
    finished_200(th, result, before["tb"], "tb's reload")
    wait_for(lambda: listen_ready(sup.listen_of("td")), 10, what="td listening")
    sup.wait_settled("td")
    t.sockets.append(sup.listen_of("td"))
    t.note_workers()
    status, info = proc_get(sup, "td")
    if status != 200 or info.get("process_group") != "td" or info.get("pid") not in sup.pids("td"):
        raise AssertionError(f"td answered {status} {info}")
    if sup.pool_status("tb").get("threads") != 3:
        raise AssertionError(f"status says tb has {sup.pool_status('tb').get('threads')} threads")
    status, info = proc_get(sup, "tb")
    if status != 200 or info.get("pid") not in tb:
        raise AssertionError(f"tb answered {status} {info}, expected a pid in {tb}")
    for pool in ("ta", "tc"):
        if sup.settled(pool) != before[pool]:
            raise AssertionError(f"unchanged pool {pool}'s pids went from {before[pool]} to "
                                 f"{sup.settled(pool)}")


def reload_removes_a_pool(fx):
    """reload without td: its workers stop, its socket file goes, the others
    keep their pids."""
    t = fx.get()
    sup = t.sup
    before = t.all_pids()
    if "td" not in before:
        raise AssertionError("td is not running (the previous test failed)")
    td_socket = sup.listen_of("td")
    config = copy_config(sup.config)
    del config["pools"]["td"]
    sup.rewrite(config)
    r = sup.ctl("reload")
    if r.returncode != 0:
        raise AssertionError(f"reload exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    wait_for(lambda: not any(worker_alive(p) for p in before["td"]), 20,
             what=f"td's workers {before['td']} to exit")
    wait_for(lambda: not os.path.exists(td_socket), 10, what=f"{td_socket} to be removed")
    if sup.pool_status("td") is not None:
        raise AssertionError("status still lists td")
    time.sleep(0.5)
    now = {name: sup.settled(name) for name in ("ta", "tb", "tc")}
    if now != {name: before[name] for name in now}:
        raise AssertionError(f"pids of the other pools went from {before} to {now}")


def sighup_reloads(fx):
    """SIGHUP after changing tc's display-name: tc's process is replaced and
    shows the new name in ps; ta and tb keep theirs."""
    t = fx.get()
    sup = t.sup
    before = t.all_pids()
    config = copy_config(sup.config)
    config["pools"]["tc"]["display-name"] = "wfpm-tc-renamed"
    sup.rewrite(config)
    sup.send(signal.SIGHUP)
    tc = wait_for(lambda: replaced(sup, "tc", before["tc"]), 20, interval=0.1,
                  what=f"tc's process {before['tc']} to be replaced after SIGHUP")
    t.note_workers()
    for pid in tc:
        if not ps_args(pid).startswith("wfpm-tc-renamed"):
            raise AssertionError(f"ps shows tc's new worker {pid} as {ps_args(pid)!r}")
    for pool in ("ta", "tb"):
        if sup.settled(pool) != before[pool]:
            raise AssertionError(f"pool {pool}'s pids went from {before[pool]} to {sup.settled(pool)}")
    serving_everywhere(sup)


def touched_script_replaces_processes(fx):
    """Touching ta's procinfo.wsgi replaces both of ta's processes: a request in
    flight finishes on an old one, a load running meanwhile sees no failure,
    and tb/tc (other scripts) are untouched."""
    t = fx.get()
    sup = t.sup
    before = t.all_pids()
    th, result = slow_request(sup, "ta", 2000, t.ta_apps)
    load = Load(sup.listen_of("ta"), "/proc/load?ms=20", threads=4)
    try:
        time.sleep(0.3)
        script = os.path.join(t.ta_apps, "procinfo.wsgi")
        now = time.time()
        os.utime(script, (now, now))
        ta = wait_for(lambda: replaced(sup, "ta", before["ta"]), 30, interval=0.1,
                      what=f"ta's processes {before['ta']} to be replaced after the touch")
        t.note_workers()
        since = time.monotonic()
        wait_for(lambda: set(ta) & load.pids_served(since=since), 10, what="the new workers to serve")
    finally:
        results = load.stop()
    finished_200(th, result, before["ta"], "the touch")
    if failures(results):
        raise AssertionError(f"{len(failures(results))} of {len(results)} requests failed during the "
                             f"replacement: {describe(failures(results))}")
    for pool in ("tb", "tc"):
        if sup.settled(pool) != before[pool]:
            raise AssertionError(f"pool {pool}'s pids went from {before[pool]} to {sup.settled(pool)}")


def sigterm_leaves_nothing(fx):
    """SIGTERM: exit status 0, no worker left, no pool or control socket left,
    the TCP port closed."""
    try:
        t = fx.get()
        sup = t.sup
        t.note_workers()
        stop_and_check(sup, t.seen_workers, t.sockets + [sup.control_socket])
        if listen_ready(f"127.0.0.1:{t.port}"):
            raise AssertionError(f"something still listens on tc's 127.0.0.1:{t.port}")
    finally:
        fx.close()


# --------------------------------------------------------------------------
# Supervisors of their own


def stop_command_finishes_in_flight():
    """`wsgi-fpm stop -c FILE` with a request in flight: the request gets its
    200, the supervisor exits 0 and leaves no worker, socket or control socket."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-supervisor-stop-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    log = os.path.join(scratch.sub("logs"), "wsgi-fpm.log")
    sup = Supervisor(scratch, small_config(scratch, {"s1": one_pool(scratch, apps, "s1", processes=2)},
                                           log=log))
    workers = sup.workers()
    th, result = slow_request(sup, "s1", 1500, apps)
    replies = []

    def stop_command():
        replies.append(sup.ctl("stop"))

    stop_and_check(sup, workers, [sup.listen_of("s1"), sup.control_socket], how=stop_command)
    if replies[0].returncode != 0:
        raise AssertionError(f"wsgi-fpm stop exited {replies[0].returncode}: "
                             f"{replies[0].stderr.decode(errors='replace')}")
    finished_200(th, result, workers, "stop")
    with open(log, errors="replace") as f:
        text = f.read()
    if not re.search(LOG_LINE % (r"[^\[\] ]+", ".*s1.*"), text, re.M):
        raise AssertionError(f"the log file {log} has no line about pool s1:\n{text[-1500:]}")


def root_pool_needs_allow_root():
    """A pool with `user: root` is refused by check and by run (nothing starts);
    with `allow-root: true` it is accepted and its worker runs as root."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-supervisor-root-")
    apps = install_apps(scratch, owner="root", subdir="root")
    config = small_config(scratch, {"rooted": one_pool(scratch, apps, "rooted", user="root")})
    path = scratch.file("root.yaml")
    write_config(path, config)
    r = wsgi_fpm("check", "-c", path)
    err = r.stderr.decode(errors="replace")
    if r.returncode != 1 or not re.search(r"^%s:\d+:\d+: .*allow-root" % re.escape(path), err, re.M):
        raise AssertionError(f"check: exit {r.returncode}, stderr {err!r}; expected 1 and "
                             f"FILE:LINE:COL: ... allow-root")
    sup = Supervisor(scratch, config, name="refused", wait=False)
    rc = sup.wait(15)
    if rc is None:
        sup.kill()
        raise AssertionError("run started a root pool without allow-root")
    if rc == 0 or "allow-root" not in sup.stderr():
        raise AssertionError(f"run exited {rc} with stderr {sup.stderr_tail()!r}; expected a "
                             f"refusal that names allow-root")
    if os.path.exists(sup.listen_of("rooted")):
        raise AssertionError("the refused run left its socket behind")

    config["pools"]["rooted"]["allow-root"] = True
    write_config(path, config)
    r = wsgi_fpm("check", "-c", path)
    if r.returncode != 0:
        raise AssertionError(f"check with allow-root: exit {r.returncode}: "
                             f"{r.stderr.decode(errors='replace')}")
    sup = Supervisor(scratch, config, name="allowed")
    try:
        status, info = proc_get(sup, "rooted")
        if status != 200 or info.get("uids") != [0, 0, 0]:
            raise AssertionError(f"with allow-root the worker answered {status} {info}")
    finally:
        stop_and_check(sup, sup.workers(), [sup.listen_of("rooted")])


def crashing_app_backs_off():
    """A script that kills its process on import (preload): the pool keeps
    respawning with growing delays, never a hot loop; the log and status say
    how it died; the sibling pool serves on; a fixed script brings it back."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-supervisor-crash-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    script = os.path.join(apps, "crashy.wsgi")
    with open(os.path.join(apps, "dies_at_import.wsgi")) as f:
        crash_source = f.read()
    with open(script, "w") as f:
        f.write(crash_source)
    os.chown(script, pwd.getpwnam(TA).pw_uid, pwd.getpwnam(TA).pw_gid)
    crashy = one_pool(scratch, apps, "crashy", preload=True)
    # preload needs a fixed application group, as WSGIImportScript does.
    crashy["apps"] = [{"mount": "/", "script": script, "application-group": "%{GLOBAL}"}]
    config = small_config(scratch, {"crashy": crashy, "steady": one_pool(scratch, apps, "steady")})
    sup = Supervisor(scratch, config, wait=False)
    sup.wait_control()
    wait_for(lambda: listen_ready(sup.listen_of("steady")), 20, what="steady listening")
    sup.wait_settled("steady")
    time.sleep(8)
    # The app's own status, told apart from the worker's named ones
    # (include/wsgi_fpm/worker_exit.h): no meaning is given for 3.
    deaths = len(re.findall(r"exited with status 3;", sup.stderr()))
    if not sup.alive():
        raise AssertionError(f"the supervisor died:\n{sup.stderr_tail()}")
    print(f"# crashy: {deaths} deaths logged in 8 s", file=sys.stderr)
    if not 2 <= deaths <= 20:
        raise AssertionError(f"{deaths} deaths in 8 s (is preload honoured?): expected a few, with backoff "
                             f"(100 ms doubling gives about 7)\n{sup.stderr_tail()}")
    pool = sup.pool_status("crashy")
    if "3" not in (pool.get("last_exit") or ""):
        raise AssertionError(f"status says last_exit {pool.get('last_exit')!r}")
    status, info = proc_get(sup, "steady")
    if status != 200:
        raise AssertionError(f"the steady pool answered {status} {info}")
    with open(script, "w") as f:
        f.write("def application(environ, start_response):\n"
                "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
                "    return [b'fixed\\n']\n")
    sup.wait_settled("crashy", timeout=40, what="the fixed crashy pool to come back")
    resp = fcgi_request(sup.listen_of("crashy"), "/")
    if (resp.status, resp.body) != (200, b"fixed\n"):
        raise AssertionError(f"the fixed pool answered {resp!r}")
    stop_and_check(sup, sup.workers(), [sup.listen_of("crashy"), sup.listen_of("steady")])


def recycling_without_failures():
    """maximum-requests: 5 retires a process after 5 requests; restart-interval: 2
    replaces one every 2 s; loads on both meanwhile see no failure."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-supervisor-recycle-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    pools = {"maxreq": one_pool(scratch, apps, "maxreq", processes=1, **{"maximum-requests": 5}),
             "interval": one_pool(scratch, apps, "interval", processes=1, **{"restart-interval": 2})}
    sup = Supervisor(scratch, small_config(scratch, pools))
    first = {name: sup.wait_settled(name) for name in pools}
    loads = {name: Load(sup.listen_of(name), "/proc/r?ms=10", threads=2) for name in pools}
    try:
        time.sleep(5.5)
    finally:
        results = {name: load.stop() for name, load in loads.items()}
    for name, res in results.items():
        pids = {}
        for r in res:
            if r[2] == "ok":
                pids[r[3]] = pids.get(r[3], 0) + 1
        print(f"# {name}: {len(res)} requests over {len(pids)} processes", file=sys.stderr)
        if failures(res):
            raise AssertionError(f"{name}: {len(failures(res))} of {len(res)} requests failed: "
                                 f"{describe(failures(res))}")
        # A retiring process serves on until its successor is ready, so it may
        # serve more than maximum-requests; but every second or so one retires.
        if name == "maxreq":
            if len(pids) < 3:
                raise AssertionError(f"maxreq: {len(res)} requests over only {len(pids)} processes")
        elif not 2 <= len(pids) <= 5:
            raise AssertionError(f"interval: {len(pids)} processes in 5.5 s with restart-interval 2")
        if set(first[name]) & set(sup.wait_settled(name)):
            raise AssertionError(f"{name}: the first process {first[name]} still serves")
    stop_and_check(sup, sup.workers(), [sup.listen_of(n) for n in pools])


def missing_home_does_not_stop_the_pool():
    """A system user as `useradd --system` makes it (home /nonexistent) and no
    `home:` key: mod_wsgi logs that it cannot enter the home directory and
    serves on; so must a pool here, rather than respawning forever."""
    scratch = Scratch(prefix="wfpm-supervisor-home-")
    apps = install_apps(scratch)  # wfpm-test, home /nonexistent
    if os.path.isdir(pwd.getpwnam(TEST_USER).pw_dir):
        raise AssertionError(f"test setup: {TEST_USER}'s home exists")
    pool = one_pool(scratch, apps, "homeless", user=TEST_USER)
    del pool["home"]
    sup = Supervisor(scratch, small_config(scratch, {"homeless": pool}), wait=False)
    sup.wait_control()
    sup.wait_settled("homeless", timeout=15)
    status, info = proc_get(sup, "homeless")
    if status != 200:
        raise AssertionError(f"answered {status} {info}")
    stop_and_check(sup, sup.workers(), [sup.listen_of("homeless")])


def python_settings_reach_the_app():
    """home, lang, locale, python-path and environment as the app sees them;
    and nothing else of the supervisor's environment (SPEC §6)."""
    scratch = Scratch(prefix="wfpm-supervisor-pyenv-")
    apps = install_apps(scratch, owner=TA, subdir="ta",
                        extra=[os.path.join(SOURCE, "tests", "apps", "pyenv.wsgi")])
    lib = scratch.sub("lib")
    with open(os.path.join(lib, "only_on_python_path.py"), "w") as f:
        f.write("WHO = 'found on python-path'\n")
    chown_tree(lib, TA)
    home = scratch.sub("home")
    chown_tree(home, TA)
    pool = one_pool(scratch, apps, "pyenv", home=home, lang="C.UTF-8", locale="C.UTF-8",
                    **{"python-path": [lib], "environment": {"GREETING": "hello from the pool"}})
    pool["apps"] = [{"mount": "/", "script": os.path.join(apps, "pyenv.wsgi")}]
    os.environ["WFPM_SUPERVISOR_SECRET"] = "must not leak"
    try:
        sup = Supervisor(scratch, small_config(scratch, {"pyenv": pool}))
    finally:
        del os.environ["WFPM_SUPERVISOR_SECRET"]
    status, info = proc_get(sup, "pyenv", "/")
    want = {"cwd": home, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "encoding": "UTF-8",
            "fs_encoding": "utf-8", "python_path_module": "found on python-path",
            "GREETING": "hello from the pool", "secret_from_supervisor": None}
    got = {k: info.get(k) for k in want}
    if status != 200 or got != want:
        raise AssertionError(f"status {status}; expected {want}, got {got}")
    stop_and_check(sup, sup.workers(), [sup.listen_of("pyenv")])


def main():
    runner = Runner(budget=540)
    fx = Group(Tenants)
    runner.add("supervisor/tenants_run_as_their_users", tenants_run_as_their_users, fx)
    runner.add("supervisor/sockets_as_configured", sockets_as_configured, fx)
    runner.add("supervisor/socket_permissions_between_tenants", socket_permissions_between_tenants, fx)
    runner.add("supervisor/wsgi_flags_follow_processes_and_threads",
               wsgi_flags_follow_processes_and_threads, fx)
    runner.add("supervisor/status_shows_request_in_flight", status_shows_request_in_flight, fx)
    runner.add("supervisor/display_name_in_ps", display_name_in_ps, fx)
    runner.add("supervisor/error_log_and_reopen", error_log_and_reopen, fx)
    runner.add("supervisor/kill_9_under_load", kill_9_under_load, fx)
    runner.add("supervisor/broken_reload_changes_nothing", broken_reload_changes_nothing, fx)
    runner.add("supervisor/reload_adds_changes_and_leaves_alone", reload_adds_changes_and_leaves_alone, fx)
    runner.add("supervisor/reload_removes_a_pool", reload_removes_a_pool, fx)
    runner.add("supervisor/sighup_reloads", sighup_reloads, fx)
    runner.add("supervisor/touched_script_replaces_processes", touched_script_replaces_processes, fx)
    runner.add("supervisor/sigterm_leaves_nothing", sigterm_leaves_nothing, fx)
    runner.add("supervisor/stop_command_finishes_in_flight", stop_command_finishes_in_flight)
    runner.add("supervisor/root_pool_needs_allow_root", root_pool_needs_allow_root)
    runner.add("supervisor/crashing_app_backs_off", crashing_app_backs_off)
    runner.add("supervisor/recycling_without_failures", recycling_without_failures)
    runner.add("supervisor/missing_home_does_not_stop_the_pool", missing_home_does_not_stop_the_pool)
    runner.add("supervisor/python_settings_reach_the_app", python_settings_reach_the_app)
    runner.main()


if __name__ == "__main__":
    main()
