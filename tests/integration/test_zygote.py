"""The shared zygote (issue 14, item 3): a cold tenant's worker is forked
from a process that has already started Python, instead of being spawned.

The zygote starts, as root, when a pool first needs a worker (that worker is
spawned meanwhile); from then on, cold workers of every eligible pool are
forked from it and drop privileges before any of their Python runs. What
they share, and nothing more: the hash secret (shown by hash() of one
string) and the address layout. A pool with `zygote: false` is spawned as
before. Scenarios, each with its own supervisor (log on stderr):

  forked     ondemand pools of the same app (tests/apps/interpreter.wsgi),
             za and zc as wfpm-ta (zc with python-path and an environment
             variable), zb as wfpm-tb, and zx, zc's twin with `zygote: false`.
             za's worker is spawned while the zygote starts; zb's and zc's
             are forked from it (one hash, not zx's or za's) and run as their
             users with no capability; zc sees what zx sees (environment,
             sys.path, flags, locale, working directory); the zygote runs as
             root and holds no pool's socket; zp's preload-fork template
             is forked from it too, and forks zp's worker.
  killed     SIGKILL to the zygote: the next cold tenant is still served
             (spawned), and a new zygote serves the one after.
  (forked, too: a clean stop leaves no spare behind.)
  retires    the zygote stops once unused for the pools' process-idle-timeout,
             and with the supervisor; its spare goes too and is reaped,
             though no pool has a worker left to tick.
  spares     the zygote keeps a spare forked ahead: root, the supervisor's
             child, titled "wsgi-fpm spare (zygote)", holding no pool's
             socket. The next cold worker is that process, as its tenant and
             with nothing of the spare's rehearsal left; another is parked.
             A killed spare is reaped and replaced; a killed zygote's spare
             goes with it, reaped too.
  orphaned   a forked worker arms its parent-death signal only once the
             supervisor has adopted it (after its own set-up, which overlaps
             with the middle process's exit): none exits at start, and
             SIGKILL to the supervisor still takes every forked worker down.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402

from support.clients import fcgi_request  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.processes import descendants, descendants_titled, parent_of, zombie_children  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.supervisor import Supervisor  # noqa: E402
from support.users import TA, TB, ensure_tenants  # noqa: E402
from support.waiting import wait_for  # noqa: E402
from support.yaml_config import small_config  # noqa: E402

READY = "ready: cold workers are forked from it"


def pool(scratch, apps, name, user, **keys):
    p = {"user": user, "processes": 1, "threads": 1, "process-manager": "ondemand",
         "process-idle-timeout": 30, "listen": os.path.join(scratch.sub("run"), f"{name}.sock"),
         "home": apps, "apps": [{"mount": "/", "script": os.path.join(apps, "interpreter.wsgi")}]}
    if keys.pop("global", False):
        p["apps"][0]["application-group"] = "%{GLOBAL}"
    p.update(keys)
    return p


def start(prefix, pools, idle=30):
    ensure_tenants()
    scratch = Scratch(prefix=prefix)
    apps = install_apps(scratch, owner=TA, subdir="ta")
    os.chmod(apps, 0o755)
    for name in os.listdir(apps):
        os.chmod(os.path.join(apps, name), 0o755 if os.path.isdir(os.path.join(apps, name)) else 0o644)
    config = small_config(scratch, {name: pool(scratch, apps, name, user, **dict(keys, **{"process-idle-timeout": idle}))
                                    for name, (user, keys) in pools.items()})
    return Supervisor(scratch, config), apps


def ask(sup, name):
    resp = fcgi_request(sup.listen_of(name), "/", timeout=30)
    if resp.status != 200:
        raise AssertionError(f"{name}: {resp.status} {resp.body[:400]!r}\n{sup.stderr_tail()}")
    return json.loads(resp.body)


def zygotes(sup):
    """Pids of the supervisor's children titled as a zygote."""
    found = []
    for pid in descendants(sup.pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                title = f.read().split(b"\0")[0]
        except OSError:
            continue
        if title.startswith(b"wsgi-fpm zygote"):
            found.append(pid)
    return found


def wait_zygote_ready(sup, count=1, timeout=20):
    """The zygote, once it said ready (`count` times in all): its one pid.
    Waits for a single process so titled, because for a moment a process it
    has just forked (a spare, or the middle of the double fork) still bears
    its title (CI saw two once)."""
    wait_for(lambda: sup.stderr().count(READY) >= count, timeout, what=f"zygote ready ({count})")
    return wait_for(lambda: len(z := zygotes(sup)) == 1 and z, 5, what="the zygote process, alone")


def listening_socket_inodes():
    """Inodes of every listening UNIX socket (/proc/net/unix, __SO_ACCEPTCON)."""
    with open("/proc/net/unix") as f:
        next(f)
        return {int(cols[6]) for cols in (line.split() for line in f) if int(cols[3], 16) & 0x10000}


def title_of(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0].decode(errors="replace").strip()
    except OSError:
        return ""


def uid_of(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no Uid in /proc/{pid}/status")


def forked():
    import pwd
    extra = {"python-path": ["/opt/wfpm-zygote-test-path"], "environment": {"ZYGOTE_TEST": "zc's own"}}
    sup, apps = start("wfpm-zygote-forked-", {"za": (TA, {}), "zb": (TB, {}), "zc": (TA, extra),
                                              "zx": (TA, dict(extra, zygote=False)),
                                              "zp": (TB, {"preload-fork": True, "global": True})})
    try:
        a = ask(sup, "za")  # the first cold start: spawned, the zygote starts
        (zygote,) = wait_zygote_ready(sup)
        b, c, x = ask(sup, "zb"), ask(sup, "zc"), ask(sup, "zx")
        if not (b["hash"] == c["hash"] != x["hash"]):
            raise AssertionError(f"zb and zc are not forked from one zygote, or zx is: hashes "
                                 f"{b['hash']}, {c['hash']}, {x['hash']}\n{sup.stderr_tail()}")
        # preload-fork: the zygote forks the template, the template the worker.
        p = ask(sup, "zp")
        template = wait_for(lambda: [t for t in descendants(sup.pid) if title_of(t).endswith(" template")], 5,
                            what="zp's template")[0]
        if p["hash"] != b["hash"] or p["ppid"] != sup.pid or parent_of(template) != sup.pid:
            raise AssertionError(f"zp's worker (hash {p['hash']}, parent {p['ppid']}) and template (parent "
                                 f"{parent_of(template)}) are not the zygote's (hash {b['hash']}) and the "
                                 f"supervisor's children\n{sup.stderr_tail()}")
        if uid_of(template) != [pwd.getpwnam(TB).pw_uid] * 4:
            raise AssertionError(f"zp's template runs as {uid_of(template)}")
        if a["hash"] == b["hash"]:
            raise AssertionError("za (spawned while the zygote started) shares the zygote's hash secret")
        for name, seen, user in (("zb", b, TB), ("zc", c, TA)):
            pw = pwd.getpwnam(user)
            if seen["resuid"] != [pw.pw_uid] * 3 or seen["resgid"] != [pw.pw_gid] * 3:
                raise AssertionError(f"{name} runs as {seen['resuid']}/{seen['resgid']}, not {user}")
            if seen["ppid"] != sup.pid:
                raise AssertionError(f"{name}'s worker is the child of {seen['ppid']}, not the supervisor's")
            caps = {k: v for k, v in seen["status"].items() if k in ("CapInh", "CapPrm", "CapEff", "CapAmb")}
            if any(int(v, 16) for v in caps.values()):
                raise AssertionError(f"{name}'s worker kept capabilities: {caps}")
        # Forked or spawned, the pool's Python is the same.
        for key in ("environ", "path", "flags", "cwd", "encoding", "executable", "groups", "modules_site"):
            if c[key] != x[key]:
                raise AssertionError(f"forked and spawned differ in {key}: {c[key]!r} vs {x[key]!r}")
        if c["environ"].get("ZYGOTE_TEST") != "zc's own" or "/opt/wfpm-zygote-test-path" not in c["path"]:
            raise AssertionError(f"zc lacks its environment or python-path: {c['environ']}, {c['path']}")
        if b["environ"].get("USER") != TB or "ZYGOTE_TEST" in b["environ"]:
            raise AssertionError(f"zb's environment is not its own: {b['environ']}")
        if uid_of(zygote)[0] != 0:
            raise AssertionError(f"the zygote runs as {uid_of(zygote)}")
        # Counted with a spare parked (while it is being forked, the zygote
        # briefly holds both ends of its socket pair).
        wait_for(lambda: spares_of(sup), 10, what="a parked spare")
        time.sleep(0.2)
        held = [os.readlink(f"/proc/{zygote}/fd/{fd}") for fd in os.listdir(f"/proc/{zygote}/fd")]
        listening = listening_socket_inodes()
        pools = [l for l in held if l.startswith("socket:[") and int(l[8:-1]) in listening]
        if pools or len(held) > 13:  # 0-2, the contract's placeholders, its own and its spare's socket
            raise AssertionError(f"the zygote holds {len(held)} descriptors, listening sockets among them "
                                 f"{pools}: {held}")
        # A clean stop leaves no process behind, the spares included (they
        # leave once the zygote has, and the supervisor waits for them).
        parked = wait_for(lambda: spares_of(sup), 10, what="a parked spare")
        sup.send(signal.SIGTERM)
        rc = sup.wait(30)
        left = [p for p in parked if os.path.exists(f"/proc/{p}")]
        if rc != 0 or left:
            raise AssertionError(f"the supervisor exited with {rc}, spares left {left}:\n{sup.stderr_tail()}")
    finally:
        sup.stop()
    if zygotes(sup):
        raise AssertionError("the zygote outlived the supervisor")


def spares_of(sup):
    return descendants_titled(sup.pid, "wsgi-fpm spare (zygote)")


def spares():
    sup, _ = start("wfpm-zygote-spares-", {"s1": (TA, {}), "s2": (TB, {}), "s3": (TA, {})})
    try:
        ask(sup, "s1")
        (zygote,) = wait_zygote_ready(sup)
        (spare,) = wait_for(lambda: spares_of(sup), 10, what="a parked spare")
        if parent_of(spare) != sup.pid or uid_of(spare)[0] != 0:
            raise AssertionError(f"the spare is the child of {parent_of(spare)} (supervisor {sup.pid}), "
                                 f"uid {uid_of(spare)}")
        held = [os.readlink(f"/proc/{spare}/fd/{fd}") for fd in os.listdir(f"/proc/{spare}/fd")]
        listening = listening_socket_inodes()
        if [l for l in held if l.startswith("socket:[") and int(l[8:-1]) in listening]:
            raise AssertionError(f"the spare holds a listening socket: {held}")
        b = ask(sup, "s2")
        import pwd
        if b["pid"] != spare:
            raise AssertionError(f"s2's worker is {b['pid']}, not the spare {spare}")
        if b["resuid"] != [pwd.getpwnam(TB).pw_uid] * 3 or b["modules_from_fds"]:
            raise AssertionError(f"the spare became s2's worker as {b['resuid']}, "
                                 f"with modules {b['modules_from_fds']}")
        if "spare" in title_of(spare):
            raise AssertionError(f"s2's worker is still titled {title_of(spare)!r}")
        (second,) = wait_for(lambda: [p for p in spares_of(sup) if p != spare], 10, what="another spare")
        os.kill(second, signal.SIGKILL)
        (third,) = wait_for(lambda: [p for p in spares_of(sup) if p not in (spare, second)], 10,
                            what="a spare in the killed one's place")
        wait_for(lambda: not zombie_children(sup.pid), 10, what="the killed spare reaped")
        if ask(sup, "s3")["pid"] != third:
            raise AssertionError("s3's worker is not the spare parked after the killed one")
        (fourth,) = wait_for(lambda: [p for p in spares_of(sup) if p != third], 10, what="a fourth spare")
        os.kill(zygote, signal.SIGKILL)
        wait_for(lambda: not os.path.exists(f"/proc/{fourth}") or fourth in zombie_children(sup.pid), 10,
                 what="the spare gone with its zygote")
        wait_for(lambda: not zombie_children(sup.pid), 10, what="the spare reaped")
        if not sup.alive():
            raise AssertionError(f"the supervisor died:\n{sup.stderr_tail()}")
    finally:
        sup.stop()


def orphaned():
    sup, _ = start("wfpm-zygote-orphaned-", {f"o{i}": (TA if i % 2 else TB, {}) for i in range(1, 7)})
    workers = []
    try:
        ask(sup, "o1")
        wait_zygote_ready(sup)
        for i in range(2, 7):
            seen = ask(sup, f"o{i}")
            if seen["ppid"] != sup.pid:
                raise AssertionError(f"o{i}'s worker is the child of {seen['ppid']}, not the supervisor's")
            workers.append(seen["pid"])
        log = sup.stderr()
        if "cannot start a worker" in log or "exited with status" in log or "not adopted" in log:
            raise AssertionError(f"a forked worker failed at start:\n{sup.stderr_tail()}")
        sup.send(signal.SIGKILL)
        wait_for(lambda: not any(os.path.exists(f"/proc/{p}") for p in workers), 15,
                 what="the forked workers to die with the supervisor")
    finally:
        sup.stop()


def killed():
    sup, _ = start("wfpm-zygote-killed-", {"k1": (TA, {}), "k2": (TA, {}), "k3": (TA, {})})
    try:
        ask(sup, "k1")
        (zygote,) = wait_zygote_ready(sup)
        os.kill(zygote, signal.SIGKILL)
        wait_for(lambda: zygote not in zygotes(sup), 10, what="the killed zygote gone")
        ask(sup, "k2")  # spawned (a new zygote starts meanwhile)
        wait_zygote_ready(sup, count=2)
        third = ask(sup, "k3")
        second = ask(sup, "k2")
        if third["hash"] == second["hash"]:
            raise AssertionError("k2 (spawned while the zygote restarted) shares the new zygote's hash")
        if not sup.alive():
            raise AssertionError(f"the supervisor died:\n{sup.stderr_tail()}")
    finally:
        sup.stop()


def retires():
    sup, _ = start("wfpm-zygote-retires-", {"r1": (TA, {}), "r2": (TA, {})}, idle=2)
    try:
        ask(sup, "r1")
        wait_zygote_ready(sup)
        ask(sup, "r2")
        wait_for(lambda: not zygotes(sup), 15, what="the zygote to retire once unused")
        if "unused for 2 s: stopping it" not in sup.stderr():
            raise AssertionError(f"no retirement line:\n{sup.stderr_tail()}")
        # Its spare went with it, after the workers: no pool ticks now.
        wait_for(lambda: not spares_of(sup) and not zombie_children(sup.pid), 10,
                 what="the retired zygote's spare gone and reaped")
        ask(sup, "r1")  # still served, cold, after the zygote retired
    finally:
        sup.stop()


if __name__ == "__main__":
    runner = Runner(budget=240)
    runner.add("cold workers are forked from the zygote, as their users, with their pool's Python", forked)
    runner.add("a killed zygote: cold tenants are still served, and a new one forks", killed)
    runner.add("the zygote retires when unused, and stops with the supervisor", retires)
    runner.add("the zygote keeps a spare forked ahead, and the next cold worker is that spare", spares)
    runner.add("forked workers are adopted before they serve, and die with the supervisor", orphaned)
    runner.main()
