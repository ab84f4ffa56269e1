"""own-gil (issue 20, PEP 684): an application group whose sub-interpreter
has a GIL of its own, so its threads run beside those of the other groups of
one process instead of taking turns on one lock.

With Python 3.12 or later (the Debian 13 stage runs this file against 3.13):
  - two own-gil groups of one process run at once: while a request of one
    holds its GIL in C (libc sleep through ctypes.PyDLL), a request of the
    other is served; two groups sharing the main GIL wait for each other
  - an extension module that refuses an isolated interpreter (readline) is
    reported when the process starts, naming the module and the app; that
    app answers 500, the pool's other apps serve
  - a stuck request in an own-gil group: request-timeout logs its Python
    stack (read in its own interpreter) and RequestTimeout ends it with 504
  - deadlock-timeout sees a GIL of its own held for good, and replaces the
    process
  - what an isolated group may do: threads and subprocess, not os.fork()
    or daemon threads
  - a process that dies of a signal in an own-gil group (as numpy makes it
    on Debian 13) names the app, the group and what to try
  - a graceful stop ends each own-gil group (its atexit handlers run) and
    the supervisor exits 0
With Python 3.11 the key is refused where it is written, by `check` and by
`run`.

Each scenario runs its own supervisor with tests/apps/isolation.wsgi as
user wfpm-ta.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import threading  # noqa: E402

from support.clients import FcgiClosed, fcgi_request  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.supervisor import Supervisor, stop_and_check, wsgi_fpm  # noqa: E402
from support.users import TA, ensure_tenants  # noqa: E402
from support.waiting import wait_for  # noqa: E402
from support.yaml_config import small_config, write_config  # noqa: E402

SUPPORTED = sys.version_info >= (3, 12)


def start(prefix, pool_keys, apps):
    """One pool `iso` of one process; `apps` are (mount, script, group, own_gil)."""
    ensure_tenants()
    scratch = Scratch(prefix=prefix)
    d = install_apps(scratch, owner=TA, subdir="ta")
    pool = {"user": TA, "processes": 1, "threads": 4, "home": d,
            "listen": os.path.join(scratch.sub("run"), "iso.sock"), "apps": []}
    for mount, script, group, own_gil in apps:
        app = {"mount": mount, "script": os.path.join(d, script), "application-group": group}
        if own_gil is not None:
            app["own-gil"] = own_gil
        pool["apps"].append(app)
    pool.update(pool_keys)
    sup = Supervisor(scratch, small_config(scratch, {"iso": pool}))
    return sup, d


def get_json(sup, uri, timeout=30):
    resp = fcgi_request(sup.listen_of("iso"), uri, timeout=timeout)
    if resp.status != 200:
        raise AssertionError(f"{uri}: {resp.status} {resp.body[:300]!r}")
    return json.loads(resp.body)


class InFlight:
    """One request on a thread of its own; .result() is its JSON."""

    def __init__(self, sup, uri):
        self._result = None
        self._error = None
        self._thread = threading.Thread(target=self._run, args=(sup, uri), daemon=True)
        self._thread.start()

    def _run(self, sup, uri):
        try:
            self._result = get_json(sup, uri, timeout=60)
        except Exception as e:  # reported by result()
            self._error = e

    def result(self, timeout=60):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the request in flight never ended")
        if self._error:
            raise self._error
        return self._result


def holding(sup, d, mount, seconds, name):
    """A request to `mount` that blocks `seconds` holding its GIL, once it
    holds it (its started marker exists); and the file made just before it
    lets go."""
    started = os.path.join(d, "markers", f"{name}-started")
    released = os.path.join(d, "markers", f"{name}-released")
    held = InFlight(sup, f"{mount}/?started={started}&hold={seconds}&released={released}")
    wait_for(lambda: os.path.exists(started), 15, what=f"{mount}'s request to hold its GIL")
    return held, released


GROUPS = [("/a", "isolation.wsgi", "ga", True), ("/b", "isolation.wsgi", "gb", True),
          ("/c", "isolation.wsgi", "gc", None), ("/d", "isolation.wsgi", "gd", None)]


def groups_with_their_own_gil_run_at_once():
    sup, d = start("wfpm-owngil-groups-", {}, GROUPS)
    pids = sup.wait_settled("iso")
    seen = {}
    for mount, _, group, own in GROUPS:
        info = get_json(sup, f"{mount}/?what=interp")
        gil = info["interpreter"]["config"]["gil"]
        if info["group"] != group or gil != ("own" if own else "shared"):
            raise AssertionError(f"{mount}: group {info['group']!r}, gil {gil!r}; expected {group!r}, "
                                 f"{'own' if own else 'shared'}")
        if own and (info["interpreter"]["config"]["allow_fork"] or info["interpreter"]["config"]["use_main_obmalloc"]):
            raise AssertionError(f"{mount}: not an isolated interpreter: {info['interpreter']['config']}")
        seen[mount] = info["interpreter"]["id"]
    if len(set(seen.values())) != 4 or 0 in seen.values():
        raise AssertionError(f"four groups, four sub-interpreters expected: {seen}")

    # While /a holds its GIL, /b (its own GIL) and /c (the main one) run:
    # each looks, as it starts, whether /a has let go yet.
    held, released = holding(sup, d, "/a", 5, "hold-a")
    for mount in ("/b", "/c"):
        if get_json(sup, f"{mount}/?seen={released}")["seen"]:
            raise AssertionError(f"{mount} ran only once /a let go of its GIL")
    held.result()
    # While /c holds the main GIL, /d, which shares it, waits for it.
    held, released = holding(sup, d, "/c", 2, "hold-c")
    if not get_json(sup, f"/d/?seen={released}")["seen"]:
        raise AssertionError("/d ran while /c held the GIL they share")
    held.result()

    markers = os.path.join(d, "markers")
    stop_and_check(sup, pids, [sup.listen_of("iso")])
    for group in ("ga", "gb", "gc", "gd"):
        if not os.path.exists(os.path.join(markers, f"atexit-{group}")):
            raise AssertionError(f"group {group}'s atexit handler did not run at the graceful stop")
    if "Fatal Python error" in sup.stderr():
        raise AssertionError(f"Python failed at the stop:\n{sup.stderr_tail()}")


def refusing_module_is_named_at_start():
    sup, d = start("wfpm-owngil-refuses-", {},
                   [("/r", "refuses_isolation.wsgi", "gr", True), ("/s", "refuses_isolation.wsgi", "gs", False),
                    ("/", "isolation.wsgi", "gi", True)])
    pids = sup.wait_settled("iso")
    script = os.path.join(d, "refuses_isolation.wsgi")
    # Before any request: the process imported its own-gil apps as it started.
    line = sup.wait_stderr("does not support an application group with a GIL of its own", timeout=15)
    text = sup.stderr()
    said = [x for x in text.splitlines() if "does not support an application group" in x]
    if not said or "'readline'" not in said[0] or script not in said[0] or "own-gil: false" not in said[0]:
        raise AssertionError(f"the error names neither module nor app: {said or line}")
    resp = fcgi_request(sup.listen_of("iso"), "/r/")
    if resp.status != 500:
        raise AssertionError(f"the refused app answered {resp.status}, expected 500")
    resp = fcgi_request(sup.listen_of("iso"), "/s/")  # the same script, sharing the main GIL
    if resp.status != 200 or b"readline imported" not in resp.body:
        raise AssertionError(f"the app without own-gil answered {resp.status} {resp.body!r}")
    get_json(sup, "/")
    if sup.settled("iso") != pids:
        raise AssertionError(f"the process was replaced: {pids} -> {sup.settled('iso')}")
    stop_and_check(sup, pids, [sup.listen_of("iso")])


def stuck_request_is_reported_and_interrupted_in_its_interpreter():
    sup, d = start("wfpm-owngil-stuck-", {"threads": 2, "request-timeout": 1, "interrupt-timeout": 5},
                   [("/", "isolation.wsgi", "gi", True), ("/m", "isolation.wsgi", "%{GLOBAL}", None)])
    pids = sup.wait_settled("iso")
    get_json(sup, "/m/")  # the main interpreter has run Python too
    resp = fcgi_request(sup.listen_of("iso"), "/?stuck=1", timeout=30)
    if resp.status != 504:
        raise AssertionError(f"the stuck request got {resp.status}, expected 504")
    sup.wait_stderr("past request-timeout")
    sup.wait_stderr("in stuck_here")  # its stack, read in its own interpreter
    sup.wait_stderr("RequestTimeout raised in its thread")
    if get_json(sup, "/")["pid"] != pids[0] or sup.settled("iso") != pids:
        raise AssertionError("the process did not live on after the interrupt")
    stop_and_check(sup, pids, [sup.listen_of("iso")])


def deadlock_in_an_own_gil_group_replaces_the_process():
    sup, d = start("wfpm-owngil-deadlock-", {"threads": 2, "deadlock-timeout": 2, "shutdown-timeout": 2},
                   [("/", "isolation.wsgi", "gi", True)])
    before = sup.wait_settled("iso")
    get_json(sup, "/")
    stuck = InFlight(sup, "/?hold=60")
    sup.wait_stderr("no thread could take the Python GIL", timeout=15)
    try:
        stuck.result(timeout=20)
        raise AssertionError("the deadlocked request was answered")
    except FcgiClosed:
        pass
    after = wait_for(lambda: (p := sup.settled("iso")) and p != before and p, 15,
                     what="a new process after the deadlock")
    if get_json(sup, "/")["pid"] != after[0]:
        raise AssertionError("the new process did not serve")
    stop_and_check(sup, after, [sup.listen_of("iso")])


def a_crash_in_an_own_gil_group_is_explained():
    """A process that dies of a signal while an own-gil group imports or
    serves says which app and group, and what to try, in its last line."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-owngil-crash-")
    d = install_apps(scratch, owner=TA, subdir="ta")
    crashing = os.path.join(d, "crashes_at_import.wsgi")
    serving = os.path.join(d, "isolation.wsgi")
    pools = {
        "atstart": {"user": TA, "processes": 1, "threads": 2, "home": d,
                    "listen": os.path.join(scratch.sub("run"), "atstart.sock"),
                    "apps": [{"script": crashing, "application-group": "gx", "own-gil": True}]},
        "iso": {"user": TA, "processes": 1, "threads": 2, "home": d,
                "listen": os.path.join(scratch.sub("run"), "iso.sock"),
                "apps": [{"script": serving, "own-gil": True}]},  # %{RESOURCE}: made on the first request
    }
    sup = Supervisor(scratch, small_config(scratch, pools), wait=False)
    sup.wait_control()
    sup.wait_stderr(f"died of SIGSEGV while importing {crashing} in application group 'gx', which has a GIL "
                    "of its own (own-gil: true)", timeout=20)
    wait_for(lambda: sup.settled("iso"), 20, what="pool iso")
    try:
        fcgi_request(sup.listen_of("iso"), "/?crash=1")
        raise AssertionError("the crashing request was answered")
    except FcgiClosed:
        pass
    sup.wait_stderr(f"died of SIGSEGV while serving GET /?crash=1 with {serving} in application group 'localhost|'",
                    timeout=10)
    stop_and_check(sup, [], [sup.listen_of("iso")])


def a_group_named_twice_keeps_the_gil_it_was_made_with():
    """%{SERVER} (own-gil) and the fixed name "localhost" (not) are one group
    for a request to localhost: whichever app comes first makes it, and the
    other runs in it as it is, with one warning (not one per request)."""
    sup, d = start("wfpm-owngil-twice-", {},
                   [("/a", "isolation.wsgi", "%{SERVER}", True), ("/b", "isolation.wsgi", "localhost", False)])
    pids = sup.wait_settled("iso")
    first = get_json(sup, "/a/?what=interp")
    for mount in ("/b", "/a") * 3:  # turn about: the warning is said once all the same
        other = get_json(sup, f"{mount}/?what=interp")
        if other["interpreter"] != first["interpreter"] or other["interpreter"]["config"]["gil"] != "own":
            raise AssertionError(f"/a ran in {first['interpreter']}, {mount} in {other['interpreter']}")
    said = sup.stderr().count("application group 'localhost' was made with a GIL of its own")
    if said != 1:
        raise AssertionError(f"warned {said} times:\n{sup.stderr_tail()}")
    stop_and_check(sup, pids, [sup.listen_of("iso")])


def what_an_isolated_group_may_do():
    sup, d = start("wfpm-owngil-limits-", {}, [("/", "isolation.wsgi", "gi", True)])
    pids = sup.wait_settled("iso")
    expected = {"thread": True, "subprocess": True, "fork": False, "daemon": False}
    got = {what: get_json(sup, f"/?try={what}") for what in expected}
    wrong = {w: r for w, r in got.items() if r["ok"] != expected[w]}
    if wrong:
        raise AssertionError(f"in an own-gil group: {wrong}")
    for what in ("fork", "daemon"):
        if "RuntimeError" not in got[what].get("error", ""):
            raise AssertionError(f"{what}: {got[what]}")
    stop_and_check(sup, pids, [sup.listen_of("iso")])


def refused_before_python_3_12():
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-owngil-311-")
    d = install_apps(scratch, owner=TA, subdir="ta")
    config = small_config(scratch, {"iso": {"user": TA, "own-gil": True,
                                            "apps": [{"script": os.path.join(d, "isolation.wsgi")}]}})
    path = scratch.file("wsgi-fpm.yaml")
    write_config(path, config)
    expected = ("'own-gil' needs Python 3.12 or later (a GIL per interpreter, PEP 684); this wsgi-fpm embeds "
                f"Python {sys.version_info[0]}.{sys.version_info[1]}")
    r = wsgi_fpm("check", "-c", path)
    said = (r.stdout + r.stderr).decode()
    if r.returncode == 0 or expected not in said:
        raise AssertionError(f"check: {r.returncode} {said!r}")
    # Where: the pool's own-gil key, as file:line:col.
    line = next(n for n, text in enumerate(open(path).read().splitlines(), 1) if "own-gil" in text)
    where = next(x for x in said.splitlines() if expected in x)
    if not re.match(rf"{re.escape(path)}:{line}:\d+: ", where):
        raise AssertionError(f"not at {path}:{line}:COL: {where!r}")
    r = wsgi_fpm("run", "-c", path, timeout=30)
    said = (r.stdout + r.stderr).decode()
    if r.returncode == 0 or expected not in said:
        raise AssertionError(f"run: {r.returncode} {said!r}")


def main():
    runner = Runner(budget=300)
    if SUPPORTED:
        runner.add("own_gil/groups_with_their_own_gil_run_at_once", groups_with_their_own_gil_run_at_once)
        runner.add("own_gil/refusing_module_is_named_at_start", refusing_module_is_named_at_start)
        runner.add("own_gil/stuck_request_is_reported_and_interrupted_in_its_interpreter",
                   stuck_request_is_reported_and_interrupted_in_its_interpreter)
        runner.add("own_gil/deadlock_in_an_own_gil_group_replaces_the_process",
                   deadlock_in_an_own_gil_group_replaces_the_process)
        runner.add("own_gil/what_an_isolated_group_may_do", what_an_isolated_group_may_do)
        runner.add("own_gil/a_group_named_twice_keeps_the_gil_it_was_made_with",
                   a_group_named_twice_keeps_the_gil_it_was_made_with)
        runner.add("own_gil/a_crash_in_an_own_gil_group_is_explained", a_crash_in_an_own_gil_group_is_explained)
    else:
        runner.add("own_gil/refused_before_python_3_12", refused_before_python_3_12)
    runner.main()


if __name__ == "__main__":
    main()
