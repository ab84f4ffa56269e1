"""Many tenants on one host (issue 14): the descriptor limit.

The supervisor raises its soft RLIMIT_NOFILE to the hard one (systemd starts
services at 1024, which a thousand idle pools pass), while its workers go
back to the soft limit it was started with; `check` warns when the pools at
full strength would need more descriptors than the hard limit allows.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from support import paths  # noqa: E402
from support.clients import fcgi_request  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.processes import descendants  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.supervisor import Serve, Supervisor, wsgi_fpm  # noqa: E402
from support.users import TEST_USER, ensure_user  # noqa: E402
from support.waiting import wait_for  # noqa: E402
from support.yaml_config import write_config  # noqa: E402


def nofile_of(pid):
    """(soft, hard) 'Max open files' of a process."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError(f"no 'Max open files' in /proc/{pid}/limits")


class Limits:
    """wsgi-fpm started with RLIMIT_NOFILE soft/hard (through prlimit(1): this
    test may not raise its own hard limit back once lowered)."""

    def __init__(self, scratch, soft, hard):
        self.wrapper = scratch.file(f"wsgi-fpm-{soft}-{hard}")
        with open(self.wrapper, "w") as f:
            f.write(f"#!/bin/sh\nexec prlimit --nofile={soft}:{hard} {os.path.abspath(paths.WSGI_FPM)} \"$@\"\n")
        os.chmod(self.wrapper, 0o755)

    def __enter__(self):
        self.saved, paths.WSGI_FPM = paths.WSGI_FPM, self.wrapper

    def __exit__(self, *exc):
        paths.WSGI_FPM = self.saved


def supervisor_raises_workers_keep():
    """Started at 1024/8192: the supervisor runs at 8192, its workers at 1024."""
    ensure_user()
    scratch = Scratch(prefix="wfpm-density-nofile-")
    apps = install_apps(scratch)
    with Limits(scratch, 1024, 8192):
        serve = Serve(scratch, os.path.join(apps, "procinfo.wsgi"),
                      args=["--user", TEST_USER, "--processes", "1", "--threads", "2"])
    try:
        if nofile_of(serve.pid) != (8192, 8192):
            raise AssertionError(f"the supervisor's descriptor limit is {nofile_of(serve.pid)}, expected 8192 soft")
        # Served once, the worker has long set its limit (a worker just
        # spawned may not have yet).
        fcgi_request(serve.socket_path, "/", timeout=20)
        workers = wait_for(serve.workers, 10, what="a worker")
        if nofile_of(workers[0]) != (1024, 8192):
            raise AssertionError(f"the worker's descriptor limit is {nofile_of(workers[0])}, expected 1024 soft")
    finally:
        serve.stop()


def check_warns_when_pools_cannot_fit():
    """300 pools of 2 processes need about 2,700 descriptors: `check` under a
    hard limit of 1024 warns with file:line:col, and is quiet under 8192."""
    ensure_user()
    scratch = Scratch(prefix="wfpm-density-check-")
    apps = install_apps(scratch)
    run = scratch.sub("run")
    os.chmod(scratch.path, 0o755)
    pools = {f"t{i}": {"user": TEST_USER, "processes": 2, "listen": os.path.join(run, f"t{i}.sock"),
                       "apps": [{"script": os.path.join(apps, "procinfo.wsgi")}]} for i in range(300)}
    path = scratch.file("many.yaml")
    write_config(path, {"runtime-dir": scratch.file("runtime"), "pools": pools})
    with Limits(scratch, 1024, 1024):
        tight = wsgi_fpm("check", "-c", path)
    with Limits(scratch, 1024, 8192):
        roomy = wsgi_fpm("check", "-c", path)
    for r in (tight, roomy):
        if r.returncode != 0:
            raise AssertionError(f"check refused the file: {r.stderr.decode(errors='replace')[-500:]}")
    warning = [l for l in tight.stderr.decode().splitlines() if "descriptors" in l]
    if not warning or not warning[0].startswith(path + ":") or "1024" not in warning[0]:
        raise AssertionError(f"no descriptor warning under a hard limit of 1024: {tight.stderr.decode()[-500:]!r}")
    if "descriptors" in roomy.stderr.decode():
        raise AssertionError(f"a descriptor warning under 8192: {roomy.stderr.decode()[-500:]!r}")


def many_pools(scratch, apps, n, idle):
    run = scratch.sub("run")
    return {"runtime-dir": scratch.file("runtime"), "log": "stderr", "pools": {
        f"t{i:04d}": {"user": TEST_USER, "processes": 2, "threads": 1, "process-manager": "ondemand",
                      "process-idle-timeout": idle, "listen": os.path.join(run, f"t{i:04d}.sock"),
                      "apps": [{"script": os.path.join(apps, "procinfo.wsgi")}]} for i in range(n)}}


def requests_to(sup, tenants, timeout, threads):
    """One GET to each tenant (a cold start each), `threads` at a time: the
    statuses (None for a request that failed)."""
    results = {}

    def one(t):
        try:
            results[t] = fcgi_request(sup.listen_of(f"t{t:04d}"), "/", timeout=timeout).status
        except Exception:  # refused or timed out: counted as None
            results[t] = None
    pending = list(tenants)
    while pending:
        batch, pending = pending[:threads], pending[threads:]
        workers = [threading.Thread(target=one, args=(t,), daemon=True) for t in batch]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout + 5)
    return [results.get(t) for t in tenants]


def thousand_pools_under_1024_descriptors():
    """1,000 ondemand pools hold 1,000 listening sockets: under a hard limit
    of 1024 (where the supervisor cannot raise its own) the few descriptors
    left run out as tenants wake. The supervisor stays up, each failed spawn
    backs off and is logged once per pool per step, its descriptors come back
    to the idle count once the workers idle out, and a tenant woken then is
    served. Under 1024/8192 (systemd's kind of limits) every one of 50 cold
    tenants is served. Before: no backoff for a failed spawn, 130,952 log
    lines a second, then std::bad_alloc and every pool down."""
    ensure_user()
    scratch = Scratch(prefix="wfpm-density-1k-")
    apps = install_apps(scratch)
    with Limits(scratch, 1024, 1024):
        sup = Supervisor(scratch, many_pools(scratch, apps, 1000, idle=3), timeout=120)
    try:
        idle_fds = len(os.listdir(f"/proc/{sup.pid}/fd"))
        statuses = requests_to(sup, range(0, 400, 10), timeout=6, threads=8)
        if not sup.alive():
            raise AssertionError(f"the supervisor died when descriptors ran out:\n{sup.stderr_tail()}")
        failed_spawns = sup.stderr().count("cannot start")
        woken = 40
        if failed_spawns > woken * 12:
            raise AssertionError(f"{failed_spawns} 'cannot start' lines for {woken} woken tenants: no backoff")
        wait_for(lambda: len(os.listdir(f"/proc/{sup.pid}/fd")) <= idle_fds, 30,
                 what=f"the supervisor's descriptors back to {idle_fds} once workers idled out")
        late = requests_to(sup, [999], timeout=20, threads=1)
        if late != [200]:
            raise AssertionError(f"a tenant woken once descriptors were free again: {late}\n{sup.stderr_tail(40)}")
        print(f"# under 1024/1024: {statuses.count(200)} of {len(statuses)} cold tenants served while "
              f"descriptors ran out, {failed_spawns} failed-spawn lines", file=sys.stderr)
    finally:
        sup.stop(timeout=60)
    with Limits(scratch, 1024, 8192):
        sup = Supervisor(scratch, many_pools(scratch, apps, 1000, idle=3), name="roomy", timeout=120)
    try:
        statuses = requests_to(sup, range(0, 1000, 20), timeout=20, threads=5)
        if statuses.count(200) != len(statuses):
            raise AssertionError(f"under 1024/8192, {statuses.count(200)} of {len(statuses)} cold tenants "
                                 f"served: {statuses}\n{sup.stderr_tail()}")
    finally:
        sup.stop(timeout=60)


def thousand_pools_reload_replaces_only_the_changed_one():
    """A reload of 1,000 ondemand pools with one pool's environment changed:
    that pool's process is replaced, a woken tenant that did not change keeps
    its process, and no idle pool starts one or gets a new socket. Then a
    mistake in the last pool: `reload` exits 1 with FILE:LINE:COL (the
    supervisor's answer: the client no longer reads the file itself) and
    every process stays. (The time it takes is scripts/bench --density's.)"""
    ensure_user()
    scratch = Scratch(prefix="wfpm-density-reload-")
    apps = install_apps(scratch)
    config = many_pools(scratch, apps, 1000, idle=120)
    sup = Supervisor(scratch, config, timeout=120)

    def pid_of(tenant):
        r = fcgi_request(sup.listen_of(f"t{tenant:04d}"), "/", timeout=20)
        if r.status != 200:
            raise AssertionError(f"tenant {tenant} answered {r.status}")
        return json.loads(r.body)["pid"]
    try:
        kept, changed = pid_of(3), pid_of(500)
        config["pools"]["t0500"]["environment"] = {"RELOADED": "1"}
        sup.rewrite(config)
        r = sup.ctl("reload", timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"reload exited {r.returncode}: {r.stderr.decode(errors='replace')}")
        wait_for(lambda: pid_of(500) != changed, 20, interval=0.1, what="tenant 500 served by a new process")
        wait_for(lambda: len(sup.workers()) == 2, 20, what="the replaced process to exit")
        if pid_of(3) != kept:
            raise AssertionError(f"unchanged tenant 3's process {kept} was replaced by {pid_of(3)}")
        log = sup.stderr()
        replaced = re.findall(r"pool (\S+) changed: replacing its processes", log)
        if replaced != ["t0500"] or "has a new socket" in log:
            raise AssertionError(f"pools replaced: {replaced}, new sockets: {log.count('has a new socket')}")

        before = sorted(sup.workers())
        config["pools"]["t0999"]["threads"] = "many"
        sup.rewrite(config)
        r = sup.ctl("reload", timeout=60)
        err = r.stderr.decode(errors="replace")
        if r.returncode != 1 or not re.search(r"^%s:\d+:\d+: " % re.escape(sup.config_path), err, re.M):
            raise AssertionError(f"reload of an invalid file: exit {r.returncode}, stderr:\n{err}")
        time.sleep(1)
        if sorted(sup.workers()) != before or pid_of(3) != kept:
            raise AssertionError(f"processes changed after a refused reload: {before} -> {sorted(sup.workers())}")
    finally:
        sup.stop(timeout=60)


def wakeups(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("voluntary_ctxt_switches"))


def asleep(sup, who):
    """At most one wake-up (voluntary context switch) in 5 s, after 1.5 s for
    what came before to settle."""
    time.sleep(1.5)
    before = wakeups(sup.pid)
    time.sleep(5)
    woke = wakeups(sup.pid) - before
    if woke > 1:
        raise AssertionError(f"{who} woke {woke} times in 5 s")


def idle_pools_never_wake_the_supervisor():
    """1,000 ondemand pools with no process: start-up logs one summary line,
    not a line a pool; the supervisor sleeps until a connection comes (no tick per pool: before, their one-second ticks cost
    1% of a core and a wake-up a second). Waking one tenant starts its tick;
    idle again (its worker and the zygote gone), the tick stops."""
    ensure_user()
    scratch = Scratch(prefix="wfpm-density-idle-")
    apps = install_apps(scratch)
    sup = Supervisor(scratch, many_pools(scratch, apps, 1000, idle=2), timeout=120)
    try:
        log = sup.stderr()
        if "1000 pools listening (1000 ondemand)" not in log or log.count(" listening on ") > 0:
            raise AssertionError(f"start-up logged {log.count(' listening on ')} pool lines and no summary:\n"
                                 f"{log[-600:]}")
        asleep(sup, "the idle supervisor")
        if requests_to(sup, [7], timeout=20, threads=1) != [200]:
            raise AssertionError("tenant 7 was not served")
        # Its worker, then the zygote that forked it, idle out.
        wait_for(lambda: not descendants(sup.pid), 20, what="tenant 7's worker and the zygote to idle out")
        asleep(sup, "the supervisor once tenant 7 was idle again")
    finally:
        sup.stop(timeout=60)


def main():
    runner = Runner(budget=480)
    runner.add("density/supervisor_raises_workers_keep", supervisor_raises_workers_keep)
    runner.add("density/check_warns_when_pools_cannot_fit", check_warns_when_pools_cannot_fit)
    runner.add("density/thousand_pools_under_1024_descriptors", thousand_pools_under_1024_descriptors)
    runner.add("density/idle_pools_never_wake_the_supervisor", idle_pools_never_wake_the_supervisor)
    runner.add("density/thousand_pools_reload_replaces_only_the_changed_one",
               thousand_pools_reload_replaces_only_the_changed_one)
    runner.main()


if __name__ == "__main__":
    main()
