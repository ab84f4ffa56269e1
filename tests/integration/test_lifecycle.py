"""mod_wsgi's lifecycle timeouts, as an operator relies on them:
inactivity-timeout gives a process's memory back after it served and then sat
idle; deadlock-timeout replaces a process whose GIL stays taken (and leaves a
busy Python loop alone); a restart the operator asked for (a touched script,
SIGUSR1 to a worker as to a mod_wsgi daemon process) lets requests in flight
finish for eviction-timeout, while one the process asked for itself
(maximum-requests) gives them only graceful-timeout.

Each scenario runs its own supervisor with tests/apps/procinfo.wsgi (which
answers with the serving pid) as user wfpm-ta.
"""
import sys

sys.dont_write_bytecode = True

import os  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

from support.clients import serving_pid  # noqa: E402
from support.load import InFlight, started_marker  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.supervisor import live_pids, procinfo_supervisor, stop_and_check  # noqa: E402
from support.waiting import wait_for  # noqa: E402


def inactivity_timeout_replaces_an_idle_process_that_served():
    """A fresh process is left alone however long it idles; once it has served,
    inactivity-timeout (2 s) of idleness replaces it with a fresh one, which
    is left alone in turn."""
    sup = procinfo_supervisor("wfpm-life-inactivity-", {"ia": {"processes": 1, "threads": 2, "inactivity-timeout": 2}})
    fresh = sup.wait_settled("ia")
    time.sleep(3.5)
    if sup.settled("ia") != fresh:
        raise AssertionError(f"a process that never served was replaced: {fresh} -> {sup.settled('ia')}")
    served_by = serving_pid(sup, "ia")
    if [served_by] != fresh:
        raise AssertionError(f"served by {served_by}, the pool runs {fresh}")
    after = wait_for(lambda: (p := sup.settled("ia")) and p != fresh and p, 10,
                     what="the idle process to be replaced")
    sup.wait_stderr("idle for 2 s (inactivity-timeout)")
    wait_for(lambda: not os.path.exists(f"/proc/{served_by}"), 10, what="the replaced process to exit")
    time.sleep(3.5)
    if sup.settled("ia") != after:
        raise AssertionError(f"the fresh replacement was replaced too: {after} -> {sup.settled('ia')}")
    stop_and_check(sup, after, [sup.listen_of("ia")])


def deadlock_timeout_replaces_a_process_holding_the_gil():
    """A request that blocks in C holding the GIL (libc sleep through
    ctypes.PyDLL) stops the process's heartbeat: after deadlock-timeout (2 s)
    the supervisor logs it and replaces the process, the stuck request's
    connection is closed, and the pool serves again from a new process. A
    request that loops in pure Python for twice as long is no deadlock."""
    sup = procinfo_supervisor("wfpm-life-deadlock-", {"dl": {"processes": 1, "threads": 2, "deadlock-timeout": 2,
                                                             "shutdown-timeout": 2}})
    before = sup.wait_settled("dl")
    if serving_pid(sup, "dl", "/?spin=4500") != before[0]:
        raise AssertionError("the spinning request was served elsewhere")
    time.sleep(1.5)
    if "deadlock-timeout" in sup.stderr() or sup.settled("dl") != before:
        raise AssertionError(f"a busy Python loop was taken for a deadlock:\n{sup.stderr_tail()}")
    stuck = InFlight(sup, "dl", "/?hold_gil=60")
    sup.wait_stderr("no thread could take the Python GIL", timeout=10)
    outcome = stuck.result(timeout=20)
    if outcome[0] != "closed":
        raise AssertionError(f"the deadlocked request ended with {outcome}")
    after = wait_for(lambda: (p := sup.settled("dl")) and p != before and p, 15,
                     what="a new process after the deadlock")
    if serving_pid(sup, "dl") != after[0]:
        raise AssertionError("the new process did not serve")
    wait_for(lambda: not os.path.exists(f"/proc/{before[0]}"), 10, what="the deadlocked process to be killed")
    stop_and_check(sup, after, [sup.listen_of("dl")])


def touched_script_gives_requests_eviction_timeout():
    """graceful-timeout 1, eviction-timeout 10: a 3 s request in flight when
    the script is touched finishes with its 200 from the old process, while
    the new one already serves."""
    sup = procinfo_supervisor("wfpm-life-evict-", {"ev": {"processes": 1, "threads": 2, "graceful-timeout": 1,
                                                          "eviction-timeout": 10}})
    before = sup.wait_settled("ev")
    marker, started = started_marker(sup, "evict-touch")
    slow = InFlight(sup, "ev", f"/?ms=3000&started={marker}")
    wait_for(started, 10, what="the slow request to start")
    script = sup.pools()["ev"]["apps"][0]["script"]
    os.utime(script)
    after = wait_for(lambda: (p := sup.settled("ev")) and p != before and p, 15,
                     what="the touched pool's new process")
    if serving_pid(sup, "ev") != after[0]:
        raise AssertionError("the new process did not serve")
    outcome = slow.result()
    if outcome != ("ok", before[0]):
        raise AssertionError(f"the request in flight at the touch ended with {outcome}, expected 200 from "
                             f"{before[0]} (eviction-timeout 10 s)")
    stop_and_check(sup, after, [sup.listen_of("ev")])


def retiring_process_gives_requests_graceful_timeout():
    """The same pool with maximum-requests 1: a quick request retires the
    process while a 5 s one runs beside it; the process asked to go, so the
    slow request gets graceful-timeout (1 s) and is cut, and the log says so."""
    sup = procinfo_supervisor("wfpm-life-graceful-", {"gr": {"processes": 1, "threads": 2, "graceful-timeout": 1,
                                                             "eviction-timeout": 10, "maximum-requests": 1}})
    before = sup.wait_settled("gr")
    marker, started = started_marker(sup, "graceful")
    slow = InFlight(sup, "gr", f"/?ms=5000&started={marker}")
    wait_for(started, 10, what="the slow request to start")
    if serving_pid(sup, "gr") != before[0]:
        raise AssertionError("the quick request went elsewhere")
    outcome = slow.result()
    if outcome[0] != "closed":
        raise AssertionError(f"the request in flight beyond graceful-timeout ended with {outcome}")
    sup.wait_stderr("still busy after graceful-timeout (1 s)")
    stop_and_check(sup, sup.workers(), [sup.listen_of("gr")])


def sigusr1_restarts_a_worker_gracefully():
    """kill -USR1 of a worker, as of a mod_wsgi daemon process: the supervisor
    starts its successor first, the 2 s request in flight finishes with its
    200, and the old process exits."""
    sup = procinfo_supervisor("wfpm-life-usr1-", {"u1": {"processes": 2, "threads": 2}})
    before = sup.wait_settled("u1")
    marker, started = started_marker(sup, "usr1")
    slow = InFlight(sup, "u1", f"/?ms=2000&started={marker}")
    wait_for(started, 10, what="the slow request to start")
    busy = [w["pid"] for w in sup.pool_status("u1")["workers"] if w["busy_threads"]]
    if len(busy) != 1:
        raise AssertionError(f"busy workers: {busy}")
    os.kill(busy[0], signal.SIGUSR1)
    sup.wait_stderr("replacing this process: SIGUSR1")
    outcome = slow.result()
    if outcome != ("ok", busy[0]):
        raise AssertionError(f"the request in flight at SIGUSR1 ended with {outcome}")
    wait_for(lambda: not os.path.exists(f"/proc/{busy[0]}"), 10, what="the restarted process to exit")
    after = sup.wait_settled("u1")
    other = [p for p in before if p != busy[0]]
    if busy[0] in after or not set(other) <= set(after):
        raise AssertionError(f"SIGUSR1 to {busy[0]}: pool went {before} -> {after}")
    if len(live_pids(sup, "u1")) != 2:
        raise AssertionError(f"after the restart: {live_pids(sup, 'u1')}")
    stop_and_check(sup, after, [sup.listen_of("u1")])


def main():
    runner = Runner(budget=300)
    runner.add("lifecycle/inactivity_timeout_replaces_an_idle_process_that_served",
               inactivity_timeout_replaces_an_idle_process_that_served)
    runner.add("lifecycle/deadlock_timeout_replaces_a_process_holding_the_gil",
               deadlock_timeout_replaces_a_process_holding_the_gil)
    runner.add("lifecycle/touched_script_gives_requests_eviction_timeout",
               touched_script_gives_requests_eviction_timeout)
    runner.add("lifecycle/retiring_process_gives_requests_graceful_timeout",
               retiring_process_gives_requests_graceful_timeout)
    runner.add("lifecycle/sigusr1_restarts_a_worker_gracefully", sigusr1_restarts_a_worker_gracefully)
    runner.main()


if __name__ == "__main__":
    main()
