"""process-manager ondemand and dynamic (SPEC §3, PHP-FPM's pm), as an
operator of many small tenants sees them: an ondemand pool runs no process
until a request comes and none once it has been idle for
process-idle-timeout; a dynamic pool keeps between min-spare and max-spare
spare processes, up to `processes`; neither ever runs more than `processes`;
a reload switches a pool between managers without dropping a request.

Each scenario runs its own supervisor with tests/apps/procinfo.wsgi (which
answers with the serving pid) as user wfpm-ta.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from support.clients import FcgiClosed, FcgiConnectError, fcgi_request, serving_pid  # noqa: E402
from support.load import Concurrent, Load, describe, failures  # noqa: E402
from support.processes import proc_ids  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.supervisor import live_pids, procinfo_supervisor, stop_and_check  # noqa: E402
from support.users import TA  # noqa: E402
from support.waiting import wait_for  # noqa: E402


def watch_max(sup, pool, stop_event, seen):
    """Records the most live workers the pool ever showed while the event is unset."""
    for _ in range(2000):
        if stop_event.is_set():
            return
        seen.append(len(live_pids(sup, pool)))
        time.sleep(0.05)


def ondemand_starts_on_demand_and_stops_when_idle():
    """No process at start; the first request starts one (as the pool's user)
    and is served by it; after process-idle-timeout none is left, and the
    next request starts a new one."""
    sup = procinfo_supervisor("wfpm-pm-ondemand-", {"od": {"processes": 2, "process-manager": "ondemand",
                                                           "process-idle-timeout": 2}})
    time.sleep(1.5)
    if live_pids(sup, "od") or sup.workers():
        raise AssertionError(f"an ondemand pool runs processes before any request: {sup.pool_status('od')}")
    if sup.pool_status("od").get("process_manager") != "ondemand":
        raise AssertionError(f"status says {sup.pool_status('od')}")
    first = serving_pid(sup, "od")
    if live_pids(sup, "od") != [first]:
        raise AssertionError(f"served by {first}, status shows {live_pids(sup, 'od')}")
    uids, _, _ = proc_ids(first)
    if set(uids) != {pwd.getpwnam(TA).pw_uid}:
        raise AssertionError(f"the started worker runs as uids {uids}")
    wait_for(lambda: not live_pids(sup, "od") and not sup.workers(), 8,
             what="the idle ondemand process to stop")
    sup.wait_stderr("idle for 2 s (process-idle-timeout)")
    second = serving_pid(sup, "od")
    if second == first:
        raise AssertionError("the stopped process served again?")
    stop_and_check(sup, [second], [sup.listen_of("od")])


def ondemand_grows_to_processes_and_no_further():
    """Six 1.5 s requests at once on a pool of at most 2 single-thread
    processes: all get 200, from exactly 2 processes, and the pool never
    shows more than 2."""
    sup = procinfo_supervisor("wfpm-pm-grow-", {"od": {"processes": 2, "process-manager": "ondemand",
                                                       "process-idle-timeout": 30}})
    done, seen = threading.Event(), []
    watcher = threading.Thread(target=watch_max, args=(sup, "od", done, seen), daemon=True)
    watcher.start()
    try:
        pids = Concurrent(sup, "od", "/?ms=1500", 6).join()
    finally:
        done.set()
        watcher.join(10)
    if len(set(pids)) != 2:
        raise AssertionError(f"served by {sorted(set(pids))}: expected both processes of the pool")
    if max(seen) > 2:
        raise AssertionError(f"the pool showed {max(seen)} live processes, more than processes: 2")
    stop_and_check(sup, pids, [sup.listen_of("od")])


def ondemand_worker_killed_is_replaced_then_idles_out():
    """kill -9 of an ondemand worker: a crash like any other, respawned (no
    hot loop), and the respawned one goes when it has been idle."""
    sup = procinfo_supervisor("wfpm-pm-crash-", {"od": {"processes": 1, "process-manager": "ondemand",
                                                        "process-idle-timeout": 3}})
    victim = serving_pid(sup, "od")
    os.kill(victim, signal.SIGKILL)
    sup.wait_stderr("killed by signal 9", timeout=10)
    after = serving_pid(sup, "od")
    if after == victim:
        raise AssertionError("the killed process answered?")
    wait_for(lambda: not live_pids(sup, "od"), 10, what="the respawned process to idle out")
    starts = sup.stderr().count("serving ")
    if starts > 3:
        raise AssertionError(f"{starts} processes started for two requests:\n{sup.stderr_tail()}")
    stop_and_check(sup, [victim, after], [sup.listen_of("od")])


def ondemand_idle_stops_lose_no_request():
    """Requests arriving around the moment processes are stopped for idling
    (process-idle-timeout 1, a client with gaps of 0.9 to 1.9 s): every one gets its 200,
    from a process still serving or from one started for it."""
    sup = procinfo_supervisor("wfpm-pm-race-", {"od": {"processes": 2, "process-manager": "ondemand",
                                                       "process-idle-timeout": 1}})
    outcomes, lock = [], threading.Lock()

    def client(seed):
        gaps = [0.9 + ((seed * 7 + i * 3) % 11) / 10 for i in range(100)]
        deadline = time.monotonic() + 14
        for gap in gaps:
            if time.monotonic() > deadline:
                return
            try:
                resp = fcgi_request(sup.listen_of("od"), "/", timeout=20)
                outcome = "ok" if resp.status == 200 else f"status {resp.status}"
            except (FcgiClosed, FcgiConnectError) as e:
                outcome = f"{type(e).__name__}: {e}"
            with lock:
                outcomes.append(outcome)
            time.sleep(gap)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    bad = [o for o in outcomes if o != "ok"]
    stops = sup.stderr().count("(process-idle-timeout)")
    print(f"# {len(outcomes)} requests, {stops} idle stops", file=sys.stderr)
    if bad or len(outcomes) < 6:
        raise AssertionError(f"{len(bad)} of {len(outcomes)} requests failed: {bad[:3]}")
    if stops < 2:
        raise AssertionError("no process was stopped for idling: the race was not exercised")
    stop_and_check(sup, sup.workers(), [sup.listen_of("od")])


def dynamic_keeps_spares_between_min_and_max():
    """min-spare 1, max-spare 2, processes 4, one thread each: one process at
    start; three long requests make it four (three busy and one spare, never
    five); when they end, spares above two are stopped."""
    sup = procinfo_supervisor("wfpm-pm-dynamic-", {"dy": {"processes": 4, "process-manager": "dynamic",
                                                          "min-spare": 1, "max-spare": 2}})
    wait_for(lambda: len(sup.pids("dy")) == 1, 10, what="one spare process at start")
    time.sleep(1.5)
    if len(live_pids(sup, "dy")) != 1:
        raise AssertionError(f"with nothing to do the pool grew: {live_pids(sup, 'dy')}")
    done, seen = threading.Event(), []
    watcher = threading.Thread(target=watch_max, args=(sup, "dy", done, seen), daemon=True)
    watcher.start()
    try:
        load = Concurrent(sup, "dy", "/?ms=4000", 3)
        wait_for(lambda: len(sup.pids("dy")) == 4, 8, what="3 busy processes and 1 spare")
        pids = load.join()
    finally:
        done.set()
        watcher.join(10)
    if max(seen) > 4:
        raise AssertionError(f"the pool showed {max(seen)} live processes, more than processes: 4")
    if len(set(pids)) != 3:
        raise AssertionError(f"3 concurrent requests on 1-thread processes served by {sorted(set(pids))}")
    wait_for(lambda: len(live_pids(sup, "dy")) == 2, 10, what="the pool to shrink to max-spare (2)")
    sup.wait_stderr("more than max-spare (2) spare processes")
    time.sleep(2)
    if len(live_pids(sup, "dy")) != 2:
        raise AssertionError(f"after shrinking to 2 the pool has {live_pids(sup, 'dy')}")
    stop_and_check(sup, sup.workers(), [sup.listen_of("dy")])


def reload_switches_process_manager():
    """A static pool of two reloaded as ondemand keeps its processes until
    they idle out (a manager change is not a reason to replace them), then
    runs none; reloaded as static again, it starts its two at once. A load
    loop across both reloads sees no failure."""
    sup = procinfo_supervisor("wfpm-pm-reload-", {"sw": {"processes": 2}})
    before = sup.wait_settled("sw")
    load = Load(sup.listen_of("sw"), "/", threads=2)
    try:
        time.sleep(0.5)
        config = json.loads(json.dumps(sup.config))
        config["pools"]["sw"].update({"process-manager": "ondemand", "process-idle-timeout": 2})
        sup.rewrite(config)
        r = sup.ctl("reload")
        if r.returncode != 0:
            raise AssertionError(f"reload to ondemand: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
        time.sleep(1)
        still = live_pids(sup, "sw")
        if not set(still) & set(before):
            raise AssertionError(f"switching the manager replaced the processes: {before} -> {still}")
    finally:
        results = load.stop()
    bad = failures(results)
    if bad or not results:
        raise AssertionError(f"{len(bad)} of {len(results)} requests failed across the reload: {describe(bad)}")
    wait_for(lambda: not live_pids(sup, "sw"), 10, what="the now-ondemand pool to idle down to none")
    config["pools"]["sw"] = {k: v for k, v in config["pools"]["sw"].items()
                             if k not in ("process-manager", "process-idle-timeout")}
    sup.rewrite(config)
    r = sup.ctl("reload")
    if r.returncode != 0:
        raise AssertionError(f"reload to static: exit {r.returncode}: {r.stderr.decode(errors='replace')}")
    again = sup.wait_settled("sw", timeout=15, what="the static pool's two processes")
    if len(again) != 2:
        raise AssertionError(f"static again: {again}")
    stop_and_check(sup, again, [sup.listen_of("sw")])


def main():
    runner = Runner(budget=300)
    runner.add("process_manager/ondemand_starts_on_demand_and_stops_when_idle",
               ondemand_starts_on_demand_and_stops_when_idle)
    runner.add("process_manager/ondemand_grows_to_processes_and_no_further", ondemand_grows_to_processes_and_no_further)
    runner.add("process_manager/ondemand_worker_killed_is_replaced_then_idles_out",
               ondemand_worker_killed_is_replaced_then_idles_out)
    runner.add("process_manager/ondemand_idle_stops_lose_no_request", ondemand_idle_stops_lose_no_request)
    runner.add("process_manager/dynamic_keeps_spares_between_min_and_max", dynamic_keeps_spares_between_min_and_max)
    runner.add("process_manager/reload_switches_process_manager", reload_switches_process_manager)
    runner.main()


if __name__ == "__main__":
    main()
