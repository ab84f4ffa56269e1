"""A busy site behind nginx while the operator works on it: 2,000 requests at
concurrency 20 through nginx's fastcgi_pass (etc/nginx/wsgi-fpm-fastcgi.conf
as shipped) to a pool of `wsgi-fpm run` with `maximum-requests: 50`, while
the pool is reloaded 5 times (its `threads` changing each time) and its
script touched 5 times. Every request must get its 200.

The pool serves tests/apps/procinfo.wsgi at /proc; each request sleeps
70-170 ms, so every replacement happens with requests in flight, and answers
with the pid that served it, so recycling shows.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from support.clients import get  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.frontends import start_frontend  # noqa: E402
from support.processes import exe_name  # noqa: E402
from support.runner import Group, Runner  # noqa: E402
from support.supervisor import Supervisor  # noqa: E402
from support.users import FRONTEND_USER, TEST_USER  # noqa: E402
from support.waiting import wait_for  # noqa: E402

TOTAL = 2000
CONCURRENCY = 20
MAX_REQUESTS = 50
THREADS = [10, 11, 12, 11, 10, 12]  # the first, then one per reload
BUDGET = 150  # seconds for the whole load


def busy_pool(on_close):
    scratch = Scratch(prefix="wfpm-reload-load-")
    apps = install_apps(scratch)
    config = {
        "runtime-dir": scratch.file("runtime"),
        "log": "stderr",
        "pools": {
            "busy": {"user": TEST_USER, "processes": 2, "threads": THREADS[0],
                     "listen": os.path.join(scratch.sub("run"), "busy.sock"),
                     "socket-user": FRONTEND_USER, "home": apps,
                     "maximum-requests": MAX_REQUESTS, "graceful-timeout": 15,
                     "apps": [{"mount": "/proc", "script": os.path.join(apps, "procinfo.wsgi")},
                              {"mount": "/", "script": os.path.join(apps, "dispatch.wsgi")}]},
        },
    }
    sup = Supervisor(scratch, config)
    on_close(sup.kill)
    nginx = start_frontend(scratch, "nginx", "wsgi-fpm-fastcgi.conf", config["pools"]["busy"]["listen"])
    on_close(nginx.kill)
    return scratch, apps, sup, nginx


class Operator:
    """Reloads and touches, alternating, one each time the load has done
    another TOTAL/12 requests and at least 1.1 s after the previous one (the
    script watcher looks once a second, so no two touches merge)."""

    def __init__(self, sup, script):
        self.sup, self.script = sup, script
        self.events = [("reload", THREADS[i // 2 + 1]) if i % 2 == 0 else ("touch", None)
                       for i in range(10)]
        self.done = []  # (event, value, at request count, seconds, detail)
        self.errors = []
        self._last = 0.0

    def maybe_act(self, completed, started_at):
        if len(self.done) == len(self.events):
            return
        due = (len(self.done) + 1) * TOTAL // 12
        if completed < due or time.monotonic() - self._last < 1.1:
            return
        kind, value = self.events[len(self.done)]
        self._last = time.monotonic()
        detail = ""
        if kind == "reload":
            config = json.loads(json.dumps(self.sup.config))
            config["pools"]["busy"]["threads"] = value
            self.sup.rewrite(config)
            r = self.sup.ctl("reload")
            detail = f"exit {r.returncode}"
            if r.returncode != 0:
                self.errors.append(f"reload to threads {value}: exit {r.returncode}: "
                                   f"{r.stderr.decode(errors='replace').strip()}")
        else:
            now = time.time()
            os.utime(self.script, (now, now))
        self.done.append((kind, value, completed, time.monotonic() - started_at, detail))


def two_thousand_requests_through_reloads(group):
    scratch, apps, sup, nginx = group.get()
    operator = Operator(sup, os.path.join(apps, "procinfo.wsgi"))
    lock = threading.Lock()
    results = []  # (status or exception text, pid or None)
    issued = [0]
    started_at = time.monotonic()
    deadline = started_at + BUDGET

    def take():
        with lock:
            if issued[0] >= TOTAL or time.monotonic() > deadline:
                return None
            issued[0] += 1
            return issued[0]

    def client():
        rng = random.Random()
        for _ in range(TOTAL):
            n = take()
            if n is None:
                return
            try:
                resp = get(nginx.port, f"/proc/r{n}?ms={rng.randint(70, 170)}", timeout=60)
                pid = json.loads(resp.body).get("pid") if resp.status == 200 else None
                outcome = (resp.status, pid, resp.body[:200])
            except Exception as e:  # counted as a failure below
                outcome = (f"{type(e).__name__}: {e}", None, b"")
            with lock:
                results.append(outcome)

    clients = [threading.Thread(target=client, daemon=True) for _ in range(CONCURRENCY)]
    for c in clients:
        c.start()
    for _ in range(int(BUDGET / 0.05) + 100):
        if not any(c.is_alive() for c in clients):
            break
        with lock:
            completed = len(results)
        if completed < TOTAL - CONCURRENCY:
            operator.maybe_act(completed, started_at)
        time.sleep(0.05)
    for c in clients:
        c.join(70)
    elapsed = time.monotonic() - started_at

    bad = [r for r in results if r[0] != 200]
    pids = {}
    for status, pid, _ in results:
        if pid:
            pids[pid] = pids.get(pid, 0) + 1
    def touches_seen():
        return len(re.findall(r"script \S+procinfo.wsgi changed", sup.stderr()))
    try:  # the last touch may be younger than the watcher's next look
        wait_for(lambda: touches_seen() >= 5, 3, what="five touches in the log")
    except AssertionError:
        pass
    print(f"# {len(results)} requests in {elapsed:.1f}s, {len(bad)} not 200, served by {len(pids)} "
          f"processes (at most {max(pids.values()) if pids else 0} each); events "
          f"{[(k, v, n, round(t, 1)) for k, v, n, t, _ in operator.done]}; "
          f"{touches_seen()} touches noticed", file=sys.stderr)
    if bad:
        sample = "; ".join(f"{s} {body!r}" for s, _, body in bad[:5])
        raise AssertionError(f"{len(bad)} of {len(results)} requests were not 200: {sample}\n"
                             f"--- nginx:\n{nginx.error_tail()}\n--- wsgi-fpm:\n{sup.stderr_tail()}")
    if len(results) != TOTAL:
        raise AssertionError(f"only {len(results)} of {TOTAL} requests done in {BUDGET}s")
    if operator.errors:
        raise AssertionError("; ".join(operator.errors))
    if len(operator.done) != len(operator.events):
        raise AssertionError(f"only {len(operator.done)} of the 10 reloads and touches happened "
                             f"during the load: {operator.done}")
    # Each process retires after 50 requests (serving on until its successor is
    # ready), so 2,000 requests need many processes.
    if len(pids) < TOTAL // (MAX_REQUESTS * 3):
        raise AssertionError(f"2000 requests served by only {len(pids)} processes with "
                             f"maximum-requests {MAX_REQUESTS}")
    if touches_seen() != 5:
        raise AssertionError(f"the log shows {touches_seen()} of 5 touches noticed")
    pool = sup.pool_status("busy")
    if pool.get("threads") != THREADS[-1]:
        raise AssertionError(f"status says {pool.get('threads')} threads after the last reload "
                             f"to {THREADS[-1]}")
    settled = sup.wait_settled("busy")
    if pool.get("requests", 0) < TOTAL:
        raise AssertionError(f"status counts {pool.get('requests')} requests, expected {TOTAL} or more")
    wait_for(lambda: len(sup.workers()) == len(settled), 30,
             what=f"the retired processes to exit (have {sup.workers()}, pool {settled})")


def stop(group):
    try:
        scratch, apps, sup, nginx = group.get()
        nginx.stop()
        workers = sup.workers()
        sup.send(signal.SIGTERM)
        rc = sup.wait(30)
        left = [p for p in workers if os.path.exists(f"/proc/{p}")
                and exe_name(p).startswith("wsgi-fpm-worker")]
        if rc != 0 or left:
            raise AssertionError(f"SIGTERM: exit {rc}, workers left {left}:\n{sup.stderr_tail()}")
    finally:
        group.close()


def main():
    runner = Runner(budget=400)
    group = Group(busy_pool)
    runner.add("reload_under_load/2000_requests_through_reloads_touches_and_recycling",
               two_thousand_requests_through_reloads, group)
    runner.add("reload_under_load/stop", stop, group)
    runner.main()


if __name__ == "__main__":
    main()
