"""maximum-memory (uWSGI's reload-on-rss), as an operator of a leaking site
relies on it: a process whose RSS passes the limit is replaced gracefully, its
successor serving before it stops, so no request fails; the log says why and
so does `status`; a pool without the key lets its process grow; setting the
key by reload replaces nothing by itself; `serve` takes the key too.

The app is tests/apps/leaky.wsgi (each request keeps a few MB in a global
list), run as user wfpm-ta.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from support.clients import fcgi_request, serving_pid  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.load import Concurrent  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.supervisor import Serve, Supervisor, live_pids, stop_and_check, wsgi_fpm  # noqa: E402
from support.users import TA, ensure_tenants  # noqa: E402
from support.yaml_config import small_config  # noqa: E402

MB = 1 << 20


def leaky_pool(scratch, apps, name, **keys):
    pool = {"user": TA, "threads": 4, "listen": os.path.join(scratch.sub("run"), f"{name}.sock"),
            "home": apps, "graceful-timeout": 10,
            "apps": [{"mount": "/", "script": os.path.join(apps, "leaky.wsgi")}]}
    pool.update(keys)
    return pool


def log_lines(sup, pool, needle, pid=None):
    """The supervisor's log lines from `pool` (about process `pid`) containing `needle`."""
    source = f"] {pool}[{pid}]: " if pid else f"] {pool}["
    return [line for line in sup.stderr().splitlines() if source in line and needle in line]


def leaking_process_is_replaced_and_no_request_fails():
    """Two pools run the leaking app: `capped` (two processes) gets
    maximum-memory 16 MB above a fresh worker's RSS by a reload, which
    replaces nothing by itself; `uncapped` has no limit. Requests that leak
    4 MB each, one at a time and six at once, then a steady trickle while the
    replacement happens: every one gets 200; a capped process is replaced
    (its successor serves, it exits), the log and `status` say "maximum-memory";
    the uncapped process keeps serving with all it leaked."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-maxmem-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    pools = {"capped": leaky_pool(scratch, apps, "capped", processes=2),
             "uncapped": leaky_pool(scratch, apps, "uncapped", processes=1)}
    sup = Supervisor(scratch, small_config(scratch, pools))
    before = sup.wait_settled("capped")
    fresh_rss = max(w["rss"] for w in sup.pool_status("capped")["workers"])
    if fresh_rss < 4 * MB:
        raise AssertionError(f"status gives a fresh worker an RSS of {fresh_rss} bytes")
    limit_mb = fresh_rss // MB + 16

    set_limit(sup, "capped", limit_mb * MB)
    time.sleep(1.5)  # a tick or so: the new limit is in force, nobody has served yet
    if sup.settled("capped") != before or log_lines(sup, "capped", "replacing"):
        raise AssertionError(f"setting maximum-memory replaced processes: {before} -> {sup.settled('capped')}\n"
                             f"{sup.stderr_tail()}")

    served = []
    for _ in range(8):
        served.append(serving_pid(sup, "capped", "/?mb=4"))
    for _ in range(2):
        served += Concurrent(sup, "capped", "/?mb=4", 6).join()
    # Keep requests coming (1 MB each) until a replaced process has exited and
    # the pool is back to two ready processes: none may fail meanwhile.
    deadline = time.monotonic() + 20
    replaced = []
    while True:
        served += Concurrent(sup, "capped", "/?mb=1", 3).join()
        replaced = [p for p in before if not os.path.exists(f"/proc/{p}")]
        now = sup.settled("capped")
        if replaced and now and not set(now) & set(replaced):
            break
        if time.monotonic() > deadline:
            raise AssertionError(f"no capped process replaced after {len(served)} requests: pool {before} -> "
                                 f"{live_pids(sup, 'capped')}, limit {limit_mb}M\n{sup.stderr_tail()}")
        time.sleep(0.1)
    after = sup.settled("capped")
    for pid in replaced:
        why = log_lines(sup, "capped", "replacing this process: maximum-memory (RSS ", pid)
        if not why or f"> {limit_mb}M)" not in why[0]:
            raise AssertionError(f"process {pid} was replaced, but the log does not say it was for "
                                 f"maximum-memory ({limit_mb}M):\n{sup.stderr_tail()}")
    # Eight slow requests at once need both processes' four threads.
    new = [p for p in after if p not in before]
    if not new or not set(new) <= set(Concurrent(sup, "capped", "/?mb=0&ms=300", 8).join()):
        raise AssertionError(f"no successor served: pool {before} -> {after}, served by {sorted(set(served))}")
    last_exit = sup.pool_status("capped").get("last_exit") or ""
    if "maximum-memory" not in last_exit:
        raise AssertionError(f"status gives the last exit as {last_exit!r}")

    grown = None
    for _ in range(20):
        resp = fcgi_request(sup.listen_of("uncapped"), "/?mb=4")
        if resp.status != 200:
            raise AssertionError(f"uncapped: {resp.status} {resp.body[:200]!r}")
        grown = json.loads(resp.body)
    time.sleep(2.5)  # two ticks
    uncapped = sup.settled("uncapped")
    if uncapped != [grown["pid"]] or grown["rss"] <= limit_mb * MB or log_lines(sup, "uncapped", "replacing"):
        raise AssertionError(f"the pool without maximum-memory: {grown} served, now runs {uncapped}\n"
                             f"{sup.stderr_tail()}")
    stop_and_check(sup, after + uncapped, [sup.listen_of("capped"), sup.listen_of("uncapped")])


def set_limit(sup, pool, limit_bytes):
    """Sets the pool's maximum-memory by a reload."""
    config = json.loads(json.dumps(sup.config))
    config["pools"][pool]["maximum-memory"] = limit_bytes  # bytes: to_yaml would quote "26M"
    sup.rewrite(config)
    r = sup.ctl("reload")
    if r.returncode != 0:
        raise AssertionError(f"reload exited {r.returncode}: {r.stderr.decode(errors='replace')}")


def preload_fork_worker_is_replaced_from_the_same_template():
    """With preload-fork the worker past maximum-memory is replaced by one
    forked from the running template, which is no worker and stays; no
    request fails meanwhile."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-maxmem-fork-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    pool = leaky_pool(scratch, apps, "forked", processes=1, threads=2, preload=True, **{"preload-fork": True})
    pool["apps"][0]["application-group"] = "%{GLOBAL}"
    sup = Supervisor(scratch, small_config(scratch, {"forked": pool}))
    before = sup.wait_settled("forked")
    status = sup.pool_status("forked")
    template = (status.get("template") or {}).get("pid")
    if not template:
        raise AssertionError(f"no template in status: {status}")
    limit_mb = status["workers"][0]["rss"] // MB + 16
    set_limit(sup, "forked", limit_mb * MB)
    deadline = time.monotonic() + 20
    answers = []
    while not (sup.settled("forked") not in (None, before) and not os.path.exists(f"/proc/{before[0]}")):
        if time.monotonic() > deadline:
            raise AssertionError(f"worker {before[0]} not replaced after {len(answers)} requests\n"
                                 f"{sup.stderr_tail()}")
        for pid in Concurrent(sup, "forked", "/?mb=2", 2).join():
            answers.append(pid)
        time.sleep(0.05)
    after = sup.settled("forked")
    if not log_lines(sup, "forked", "replacing this process: maximum-memory (RSS ", before[0]):
        raise AssertionError(f"the log does not say why {before[0]} was replaced:\n{sup.stderr_tail()}")
    resp = fcgi_request(sup.listen_of("forked"), "/?mb=0")
    answer = json.loads(resp.body) if resp.status == 200 else {}
    now_template = (sup.pool_status("forked").get("template") or {}).get("pid")
    if answer.get("pid") != after[0] or answer.get("imported_in") != template or now_template != template:
        raise AssertionError(f"after the replacement: {answer}, template {template} -> {now_template}")
    stop_and_check(sup, after + [template], [sup.listen_of("forked")])


def serve_takes_maximum_memory_and_catches_a_forgotten_unit():
    """`wsgi-fpm serve --maximum-memory 200` (uWSGI's reload-on-rss counts in
    MB) is refused with a hint; `--maximum-memory 200M` serves."""
    scratch = Scratch(prefix="wfpm-maxmem-serve-")
    apps = install_apps(scratch)
    script = os.path.join(apps, "leaky.wsgi")
    r = wsgi_fpm("serve", script, "--maximum-memory", "200", "--listen",
                 f"unix:{os.path.join(scratch.sub('bad'), 'x.sock')}", timeout=20)
    err = r.stderr.decode(errors="replace")
    if r.returncode == 0 or "did you mean 200M?" not in err:
        raise AssertionError(f"serve --maximum-memory 200 exited {r.returncode}: {err}")
    serve = Serve(scratch, script, args=("--maximum-memory", "200M", "--threads", "2"))
    try:
        resp = fcgi_request(serve.socket_path, "/?mb=1")
        if resp.status != 200:
            raise AssertionError(f"serve with maximum-memory 200M answered {resp.status}")
    finally:
        serve.stop()


def main():
    runner = Runner(budget=120)
    runner.add("maximum_memory/leaking_process_is_replaced_and_no_request_fails",
               leaking_process_is_replaced_and_no_request_fails)
    runner.add("maximum_memory/preload_fork_worker_is_replaced_from_the_same_template",
               preload_fork_worker_is_replaced_from_the_same_template)
    runner.add("maximum_memory/serve_takes_maximum_memory_and_catches_a_forgotten_unit",
               serve_takes_maximum_memory_and_catches_a_forgotten_unit)
    runner.main()


if __name__ == "__main__":
    main()
