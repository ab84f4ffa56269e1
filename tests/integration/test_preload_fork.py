"""preload-fork, as an operator who moves a site off uWSGI relies on it: the
pool's %{GLOBAL} apps are imported once, in a template process that runs as
the tenant, and every worker is forked from it, so that the workers share the
imported code's memory; the workers are still the supervisor's children, so
a crash, a killed template, a touched script, a reload and a stop behave as
they do without it.

Each scenario runs its own supervisor with tests/apps/procinfo.wsgi (which
answers with the serving pid, the pid that imported it and its VERSION) as
user wfpm-ta.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import pwd  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from support.clients import fcgi_request  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.load import InFlight, Load, describe, failures, started_marker  # noqa: E402
from support.processes import descendants_titled, parent_of, zombie_children  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.supervisor import Supervisor, stop_and_check  # noqa: E402
from support.users import TA, ensure_tenants  # noqa: E402
from support.waiting import wait_for  # noqa: E402
from support.yaml_config import small_config  # noqa: E402


def fork_pool(scratch, apps, name, **keys):
    script = os.path.join(apps, "procinfo.wsgi")
    pool = {"user": TA, "processes": 2, "threads": 2, "preload-fork": True, "preload": True,
            "listen": os.path.join(scratch.sub("run"), f"{name}.sock"), "home": apps,
            "apps": [{"mount": "/", "script": script, "application-group": "%{GLOBAL}"},
                     {"mount": "/sub", "script": script, "application-group": "named"}]}
    pool.update(keys)
    return pool


def start(prefix, name, **keys):
    ensure_tenants()
    scratch = Scratch(prefix=prefix)
    apps = install_apps(scratch, owner=TA, subdir="ta")
    sup = Supervisor(scratch, small_config(scratch, {name: fork_pool(scratch, apps, name, **keys)}))
    return sup, apps


def ask(sup, pool, uri="/"):
    resp = fcgi_request(sup.listen_of(pool), uri, timeout=30)
    if resp.status != 200:
        raise AssertionError(f"{pool} {uri}: {resp.status} {resp.body[:300]!r}")
    return json.loads(resp.body)


def template_of(sup, pool):
    t = (sup.pool_status(pool) or {}).get("template")
    return t["pid"] if t else None


def uids_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    return []


def smaps_kib(pid, field):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def imports_seen_across_workers(sup, pool, until, rounds=10):
    """The templates the pool's workers imported in, as answered by batches
    of concurrent slow requests: sequential requests may all be accepted by
    the same idle worker, so a batch (2 workers x 2 threads) keeps every
    worker busy. Stops at the first batch that shows `until`."""
    seen = set()
    for _ in range(rounds):
        with ThreadPoolExecutor(max_workers=4) as pool_of_clients:
            seen |= {r["imported_in"] for r in pool_of_clients.map(lambda _: ask(sup, pool, "/?ms=300"), range(4))}
        if until in seen:
            break
    return seen


def wait_new_template(sup, pool, old, timeout=20):
    return wait_for(lambda: (template_of(sup, pool) not in (None, old)) and template_of(sup, pool), timeout,
                    what=f"a template other than {old}")


def workers_share_the_templates_import():
    """The template runs as the tenant, is the supervisor's child and imports
    the %{GLOBAL} app; every worker is the supervisor's child too, serves
    that import (imported_in is the template) and shares its pages; an app
    in a sub-interpreter is imported by each worker itself, after the fork."""
    sup, _ = start("wfpm-pf-share-", "pf")
    workers = sup.wait_settled("pf")
    tmpl = template_of(sup, "pf")
    ta = pwd.getpwnam(TA).pw_uid
    if not tmpl or tmpl in workers:
        raise AssertionError(f"template {tmpl}, workers {workers}")
    if uids_of(tmpl) != [ta] * 4 or parent_of(tmpl) != sup.pid:
        raise AssertionError(f"template {tmpl}: uids {uids_of(tmpl)}, parent {parent_of(tmpl)} (supervisor {sup.pid})")
    served = set()
    for _ in range(30):
        r = ask(sup, "pf")
        served.add(r["pid"])
        if r["pid"] not in workers or r["imported_in"] != tmpl or r["ppid"] != sup.pid or r["uids"] != [ta] * 3:
            raise AssertionError(f"/ answered {r}; workers {workers}, template {tmpl}, supervisor {sup.pid}")
        s = ask(sup, "pf", "/sub")
        if s["imported_in"] != s["pid"] or s["application_group"] != "named":
            raise AssertionError(f"/sub answered {s}: not imported in its own worker's sub-interpreter")
    for pid in workers:
        # Pages the template wrote before fork() and the worker only read: a
        # worker exec'd on its own has next to none.
        shared = smaps_kib(pid, "Shared_Dirty")
        if shared < 1024:
            raise AssertionError(f"worker {pid} shares only {shared} KiB of written pages with the template")
    text = sup.ctl("status").stdout.decode()
    if f"preload-fork template pid {tmpl}" not in text:
        raise AssertionError(f"status does not show the template:\n{text}")
    stop_and_check(sup, workers + [tmpl], [sup.listen_of("pf")])


def crashes_of_workers_and_template_are_survived():
    """kill -9 of a worker: its replacement is forked from the template.
    kill -9 of the template: the workers keep serving without a failed
    request while a new template starts, and the next worker comes from it."""
    sup, _ = start("wfpm-pf-crash-", "pc")
    workers = sup.wait_settled("pc")
    tmpl = template_of(sup, "pc")
    os.kill(workers[0], signal.SIGKILL)
    after = wait_for(lambda: (lambda p: p if p and workers[0] not in p else None)(sup.settled("pc")), 20,
                     what="the killed worker to be replaced")
    for _ in range(10):
        r = ask(sup, "pc")
        if r["imported_in"] != tmpl:
            raise AssertionError(f"after a worker crash: {r} (template {tmpl})")
    load = Load(sup.listen_of("pc"), "/", threads=3)
    try:
        time.sleep(0.3)
        os.kill(tmpl, signal.SIGKILL)
        new_tmpl = wait_new_template(sup, "pc", tmpl)
        time.sleep(0.5)
    finally:
        load.stop()
    bad = failures(load.results)
    if bad or len(load.results) < 20:
        raise AssertionError(f"{len(bad)} of {len(load.results)} requests failed while the template was killed: "
                             f"{describe(bad)}")
    if sup.settled("pc") != after:
        raise AssertionError(f"the workers changed when the template died: {after} -> {sup.settled('pc')}")
    os.kill(after[1], signal.SIGKILL)
    wait_for(lambda: (lambda p: p if p and after[1] not in p else None)(sup.settled("pc")), 20,
             what="the second killed worker to be replaced")
    # The untouched worker came from the old template, the new one from the new.
    imported = imports_seen_across_workers(sup, "pc", until=new_tmpl)
    if new_tmpl not in imported or not imported <= {tmpl, new_tmpl}:
        raise AssertionError(f"after the template was replaced, workers imported in {imported} "
                             f"(old template {tmpl}, new {new_tmpl})")
    if "template killed by signal 9" not in sup.stderr():
        raise AssertionError(f"the template's death is not logged:\n{sup.stderr_tail()}")
    stop_and_check(sup, sup.wait_settled("pc") + [new_tmpl], [sup.listen_of("pc")])


def touched_script_is_served_from_a_new_template():
    """Touching the script (here: changing its VERSION) starts a new template;
    only once it is ready are the workers replaced from it; a request in
    flight finishes on its old worker, and the old template goes."""
    sup, apps = start("wfpm-pf-touch-", "pt")
    before = sup.wait_settled("pt")
    tmpl = template_of(sup, "pt")
    marker, started = started_marker(sup, "pf-touch")
    slow = InFlight(sup, "pt", f"/?ms=1500&started={marker}")
    wait_for(started, 10, what="the slow request to start")
    script = os.path.join(apps, "procinfo.wsgi")
    with open(script) as f:
        code = f.read()
    with open(script, "w") as f:
        f.write(code.replace("VERSION = 1", "VERSION = 2"))
    new_tmpl = wait_new_template(sup, "pt", tmpl)
    outcome = slow.result()
    if outcome[0] != "ok" or outcome[1] not in before:
        raise AssertionError(f"the request in flight at the touch ended with {outcome}")
    wait_for(lambda: (lambda p: p if p and not set(p) & set(before) else None)(sup.settled("pt")), 30,
             what="every worker to be replaced")
    for _ in range(10):
        r = ask(sup, "pt")
        if r["version"] != 2 or r["imported_in"] != new_tmpl:
            raise AssertionError(f"after the touch: {r} (new template {new_tmpl})")
    wait_for(lambda: not alive(tmpl), 10, what=f"the old template {tmpl} to exit")
    stop_and_check(sup, sup.wait_settled("pt") + [new_tmpl], [sup.listen_of("pt")])


def reload_turns_preload_fork_off_and_on():
    """A reload without preload-fork stops the template and spawns workers
    that import the app themselves; one with it brings a template back; no
    request fails across both."""
    sup, _ = start("wfpm-pf-reload-", "pr")
    sup.wait_settled("pr")
    tmpl = template_of(sup, "pr")
    load = Load(sup.listen_of("pr"), "/", threads=3)
    try:
        config = json.loads(json.dumps(sup.config))
        del config["pools"]["pr"]["preload-fork"]
        sup.rewrite(config)
        r = sup.ctl("reload")
        if r.returncode != 0:
            raise AssertionError(f"reload exited {r.returncode}: {r.stderr!r}")
        wait_for(lambda: template_of(sup, "pr") is None and not alive(tmpl), 20, what="the template to go")
        wait_for(lambda: all(x["imported_in"] == x["pid"] for x in (ask(sup, "pr") for _ in range(6))), 30,
                 what="workers that imported the app themselves")
        config["pools"]["pr"]["preload-fork"] = True
        sup.rewrite(config)
        r = sup.ctl("reload")
        if r.returncode != 0:
            raise AssertionError(f"reload exited {r.returncode}: {r.stderr!r}")
        back = wait_for(lambda: template_of(sup, "pr"), 20, what="a template again")
        wait_for(lambda: all(x["imported_in"] == back for x in (ask(sup, "pr") for _ in range(6))), 30,
                 what="workers forked from the new template")
    finally:
        load.stop()
    bad = failures(load.results)
    if bad:
        raise AssertionError(f"{len(bad)} of {len(load.results)} requests failed across the reloads: {describe(bad)}")
    stop_and_check(sup, sup.wait_settled("pr") + [back], [sup.listen_of("pr")])


def main():
    runner = Runner(budget=240)
    runner.add("preload_fork/workers_share_the_templates_import", workers_share_the_templates_import)
    runner.add("preload_fork/crashes_of_workers_and_template_are_survived",
               crashes_of_workers_and_template_are_survived)
    runner.add("preload_fork/touched_script_is_served_from_a_new_template",
               touched_script_is_served_from_a_new_template)
    runner.add("preload_fork/reload_turns_preload_fork_off_and_on", reload_turns_preload_fork_off_and_on)
    runner.add("preload_fork/templates_come_and_go_with_the_tenant", templates_come_and_go_with_the_tenant)
    runner.main()


def spares_of(sup, pool):
    """The spare a pool's template keeps forked ahead (titled "TITLE spare")."""
    return descendants_titled(sup.pid, f"(wsgi:{pool}) spare")


def templates_come_and_go_with_the_tenant():
    """ondemand with preload-fork (issue 14, item 4): no template while the
    pool is idle (before: one per pool from the start, 3 MB and 5
    descriptors each, 3.1 GB for 1,000 idle pools); the first request starts
    it and is served by a worker forked from it; a tenant woken again while
    it lives gets a worker forked from the same template, ahead of the
    request: the spare the template keeps parked (the tenant's, and the
    supervisor's child); once the pool has had no worker for
    template-idle-timeout the template goes, its spare with it (reaped,
    though the pool has no worker to tick), and the next request starts
    another."""
    sup, _ = start("wfpm-pf-ondemand-", "od", **{"process-manager": "ondemand", "processes": 1,
                                                 "process-idle-timeout": 1, "template-idle-timeout": 4})
    try:
        time.sleep(1.5)
        if template_of(sup, "od") or sup.pids("od", state=None):
            raise AssertionError(f"an idle ondemand pool runs template {template_of(sup, 'od')}, "
                                 f"workers {sup.pids('od', state=None)}")
        first = ask(sup, "od")
        tmpl = template_of(sup, "od")
        if not tmpl or first["imported_in"] != tmpl:
            raise AssertionError(f"the first request was served by {first['pid']} importing in "
                                 f"{first['imported_in']}, template {tmpl}")
        wait_for(lambda: not sup.pids("od", state=None), 10, what="the worker to idle out")
        (spare,) = wait_for(lambda: spares_of(sup, "od"), 10, what="the template's spare")
        if parent_of(spare) != sup.pid or uids_of(spare)[0] != pwd.getpwnam(TA).pw_uid:
            raise AssertionError(f"the spare {spare} is the child of {parent_of(spare)} (supervisor {sup.pid}), "
                                 f"uids {uids_of(spare)}")
        again = ask(sup, "od")  # within template-idle-timeout: the same template forks
        if again["imported_in"] != tmpl or again["pid"] != spare:
            raise AssertionError(f"woken again: served by {again['pid']} importing in {again['imported_in']}, "
                                 f"template was {tmpl}, its spare {spare}")
        wait_for(lambda: not sup.pids("od", state=None), 10, what="the worker to idle out")
        wait_for(lambda: not template_of(sup, "od") and not alive(tmpl), 12,
                 what="the template to stop after template-idle-timeout")
        if "no worker for 4 s (template-idle-timeout)" not in sup.stderr():
            raise AssertionError(f"no log line for the template's retirement:\n{sup.stderr_tail()}")
        wait_for(lambda: not spares_of(sup, "od") and not zombie_children(sup.pid), 10,
                 what="the retired template's spare gone and reaped")
        third = ask(sup, "od")
        if third["imported_in"] in (tmpl, third["pid"]) or third["imported_in"] != template_of(sup, "od"):
            raise AssertionError(f"after the template retired: served by {third['pid']} importing in "
                                 f"{third['imported_in']}, template now {template_of(sup, 'od')}")
    finally:
        sup.stop()
    # template-idle-timeout 0: the template starts with the pool and stays.
    sup, _ = start("wfpm-pf-ondemand0-", "od0", **{"process-manager": "ondemand", "processes": 1,
                                                   "template-idle-timeout": 0})
    try:
        tmpl = wait_for(lambda: template_of(sup, "od0"), 20, what="the template of template-idle-timeout 0")
        if ask(sup, "od0")["imported_in"] != tmpl:
            raise AssertionError("template-idle-timeout 0: the first request was not served from the template")
    finally:
        sup.stop()


if __name__ == "__main__":
    main()
