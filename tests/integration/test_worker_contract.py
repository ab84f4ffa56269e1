"""The supervisor<->worker contract (include/wsgi_fpm/scoreboard.h), as the
operator of a shared host relies on it: a worker inherits that contract and
nothing else, and an application that tampers with descriptors cannot leave a
worker "ready" but broken.

- A root-only (0600) file that the shell starting wsgi-fpm had open on fd 9
  is held by no worker, preload-fork template or worker forked from it, under
  `run` and under `serve`, and a tenant's app can read nothing of it; the
  supervisor keeps it, marked close-on-exec.
- os.close(3) and os.close(5) by an app (the contract's numbers) hit nothing
  the worker uses: every later request is served at once, no CPU is burnt,
  and SIGUSR1 to that worker still restarts it gracefully.
- An app that closes the worker's listening socket, or its notify pipe,
  wherever the worker keeps them, gets its process replaced: every later
  request is served within a bounded time, with no CPU spin.

Each scenario runs its own supervisor (or serve) with tests/apps/contract.wsgi
(which lists and closes its process's descriptors) as user wfpm-ta.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from support.clients import fcgi_request  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.processes import cpu_ticks, descendants, exe_name  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.supervisor import Serve, Supervisor, stop_and_check  # noqa: E402
from support.users import TA, ensure_tenants  # noqa: E402
from support.waiting import wait_for  # noqa: E402
from support.yaml_config import small_config  # noqa: E402

SECRET = "wfpm-secret: for root's eyes only\n"
INHERITED_FD = 9
# A process that serves nothing for a while should use next to no CPU: the
# broken workers of issue 13 burnt a core each.
IDLE_TICKS = 30  # clock ticks (1/100 s) over the few seconds measured


def pool(scratch, app_dir, name, **keys):
    p = {"user": TA, "processes": 2, "threads": 2, "home": app_dir,
         "listen": os.path.join(scratch.sub("run"), f"{name}.sock"),
         "apps": [{"mount": "/", "script": os.path.join(app_dir, "contract.wsgi")}]}
    p.update(keys)
    return p


def forked_pool(scratch, app_dir, name):
    return pool(scratch, app_dir, name, **{
        "preload-fork": True, "preload": True,
        "apps": [{"mount": "/", "script": os.path.join(app_dir, "contract.wsgi"),
                  "application-group": "%{GLOBAL}"}]})


def start(prefix, make_pools, pass_fds=()):
    ensure_tenants()
    scratch = Scratch(prefix=prefix)
    apps = install_apps(scratch, owner=TA, subdir="ta")
    sup = Supervisor(scratch, small_config(scratch, make_pools(scratch, apps)), pass_fds=pass_fds)
    return sup, scratch, apps


def ask(listen, uri, timeout=30):
    resp = fcgi_request(listen, uri, timeout=timeout)
    if resp.status != 200:
        raise AssertionError(f"{uri}: {resp.status} {resp.body[:300]!r}")
    return json.loads(resp.body)


def secret_file(scratch):
    """A root-only file, open on INHERITED_FD in this process (inheritable),
    as `9</root-only-file` in a shell would have it. Returns its path."""
    path = scratch.file("root-only")
    with open(path, "w") as f:
        f.write(SECRET)
    os.chmod(path, 0o600)
    fd = os.open(path, os.O_RDONLY)
    os.dup2(fd, INHERITED_FD)  # inheritable, unlike fd
    os.close(fd)
    return path


def views(listen, n=6):
    """/fds from n concurrent requests (each held 300 ms, so that they spread
    over the processes): the answers."""
    with ThreadPoolExecutor(n) as ex:
        return list(ex.map(lambda _: ask(listen, "/fds?ms=300"), range(n)))


def check_inherits_nothing(owner, path, answers):
    """The apps read nothing of `path` and saw no regular file beyond 0-2 but
    /dev/null; no process under `owner` holds it (as root sees /proc);
    `owner` itself keeps it on INHERITED_FD, close-on-exec."""
    for a in answers:
        if any(SECRET.strip() in text for text in a["readable"].values()):
            raise AssertionError(f"the app in {a['pid']} read the root-only file: {a['readable']}")
        # Beyond 0-2 a worker keeps sockets, pipes, epoll/eventfd and the
        # /dev/null that holds the contract's numbers, nothing else.
        extra = {fd: t for fd, t in a["fds"].items()
                 if int(fd) > 2 and t != "/dev/null" and not t.startswith(("socket:", "pipe:", "anon_inode:"))}
        if extra:
            raise AssertionError(f"worker {a['pid']} has descriptors beyond its contract: {extra} "
                                 f"(all: {a['fds']})")
    st = os.stat(path)
    holders = []
    for pid in descendants(owner.pid):
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # exited meanwhile
        for n in names:
            try:
                s = os.stat(f"/proc/{pid}/fd/{n}")
            except OSError:
                continue
            if (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino):
                holders.append(f"{exe_name(pid)} {pid} on fd {n}")
    if holders:
        raise AssertionError(f"{path} is held by: {', '.join(holders)}")
    with open(f"/proc/{owner.pid}/fdinfo/{INHERITED_FD}") as f:
        flags = int(next(line for line in f if line.startswith("flags:")).split()[1], 8)
    if not flags & os.O_CLOEXEC:
        raise AssertionError(f"{owner.name} keeps fd {INHERITED_FD} without close-on-exec (flags {flags:o})")


def run_workers_inherit_only_their_contract():
    """`wsgi-fpm run` started with a root-only file on fd 9: neither a spawned
    worker nor a preload-fork template nor a worker forked from it holds the
    file, and the apps in them read nothing of it."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-contract-run-")
    path = secret_file(scratch)
    try:
        sup, _, _ = start("wfpm-contract-run-", lambda s, a: {"plain": pool(s, a, "plain"),
                                                               "forked": forked_pool(s, a, "forked")},
                          pass_fds=(INHERITED_FD,))
    finally:
        os.close(INHERITED_FD)
    answers = views(sup.listen_of("plain")) + views(sup.listen_of("forked"))
    if not (sup.pool_status("forked") or {}).get("template"):
        raise AssertionError("the preload-fork pool has no template")
    check_inherits_nothing(sup, path, answers)
    stop_and_check(sup, sup.workers(), [sup.listen_of("plain"), sup.listen_of("forked")])


def serve_workers_inherit_only_their_contract():
    """`wsgi-fpm serve` started with a root-only file on fd 9: the same."""
    ensure_tenants()
    scratch = Scratch(prefix="wfpm-contract-serve-")
    apps = install_apps(scratch, owner=TA, subdir="ta")
    path = secret_file(scratch)
    try:
        serve = Serve(scratch, os.path.join(apps, "contract.wsgi"), name="serve",
                      args=["--processes", "2", "--threads", "2", "--user", TA], pass_fds=(INHERITED_FD,))
    finally:
        os.close(INHERITED_FD)
    try:
        check_inherits_nothing(serve, path, views(serve.socket_path))
        if serve.stop() != 0:
            raise AssertionError(f"serve exited non-zero:\n{serve.stderr_tail()}")
    finally:
        serve.kill()


def requests_all_served(listen, n=20, each=10, total=30):
    """n requests one after another: each must be answered 200 within `each`
    seconds and all within `total`. Returns the serving pids."""
    began = time.monotonic()
    pids = []
    for i in range(n):
        t0 = time.monotonic()
        try:
            pids.append(ask(listen, "/", timeout=each)["pid"])
        except Exception as e:
            raise AssertionError(f"request {i + 1} of {n} failed after {time.monotonic() - t0:.1f}s "
                                 f"(served so far: {pids}): {type(e).__name__}: {e}") from None
    took = time.monotonic() - began
    if took > total:
        raise AssertionError(f"{n} requests took {took:.1f}s (over {total}s)")
    return pids


def ticks_while(pid, seconds):
    """CPU ticks `pid` used over `seconds` (or until it exited)."""
    try:
        first = cpu_ticks(pid)
    except OSError:
        return 0
    last = first
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            last = cpu_ticks(pid)
        except OSError:
            break
        time.sleep(0.1)
    return last - first


def closing_fd_3_or_5_hurts_no_worker():
    """An app calls os.close(3), another os.close(5): the worker keeps nothing
    there, so every later request is served at once by the same processes,
    none spins, and SIGUSR1 to the one that closed fd 5 still makes the
    supervisor restart it gracefully."""
    sup, _, _ = start("wfpm-contract-low-", lambda s, a: {"lo": pool(s, a, "lo")})
    listen = sup.listen_of("lo")
    before = sup.wait_settled("lo")
    closer = ask(listen, "/close?fd=3")["pid"]
    requests_all_served(listen, each=5, total=15)
    ticks = ticks_while(closer, 3)
    if ticks > IDLE_TICKS:
        raise AssertionError(f"after os.close(3) worker {closer} used {ticks} ticks of CPU in 3 s idle")
    after = sup.wait_settled("lo", timeout=10)
    if after != before:
        raise AssertionError(f"os.close(3) in an app changed the pool: {before} -> {after}")

    closer = ask(listen, "/close?fd=5")["pid"]
    requests_all_served(listen, each=5, total=15)
    os.kill(closer, signal.SIGUSR1)
    sup.wait_stderr("replacing this process: SIGUSR1", timeout=10)
    wait_for(lambda: not os.path.exists(f"/proc/{closer}"), 20, what=f"worker {closer} to exit after SIGUSR1")
    after = sup.wait_settled("lo", timeout=20)
    if closer in after:
        raise AssertionError(f"SIGUSR1 after os.close(5): {closer} still in the pool {after}")
    requests_all_served(listen, n=5)
    stop_and_check(sup, after, [listen])


def lost_descriptor_replaces_the_worker(uri, sign):
    """`uri` makes the app close one of its worker's own descriptors: that
    worker is replaced (its log says `sign`), and every request meanwhile and
    after is served; it burns no CPU on the way out."""
    sup, _, _ = start("wfpm-contract-lost-", lambda s, a: {"ls": pool(s, a, "ls")})
    listen = sup.listen_of("ls")
    before = sup.wait_settled("ls")
    answer = ask(listen, uri)
    victim = answer["pid"]
    if not answer.get("closed"):
        raise AssertionError(f"{uri} closed nothing: {answer}")
    requests_all_served(listen)
    ticks = ticks_while(victim, 3)
    if ticks > IDLE_TICKS:
        raise AssertionError(f"after {uri} worker {victim} used {ticks} ticks of CPU in 3 s")
    wait_for(lambda: not os.path.exists(f"/proc/{victim}"), 20, what=f"worker {victim} to exit after {uri}")
    sup.wait_stderr(sign, timeout=5)
    after = sup.wait_settled("ls", timeout=20)
    if victim in after or not set(before) - {victim} <= set(after):
        raise AssertionError(f"after {uri} in {victim}: pool went {before} -> {after}")
    requests_all_served(listen, n=5)
    stop_and_check(sup, after, [listen])


def closed_listening_socket_retires_the_worker():
    """The app closes every listening socket of its process (where the worker
    keeps its own too): the worker retires and is replaced."""
    lost_descriptor_replaces_the_worker("/close-listening", "lost its listening socket")


def closed_notify_pipe_stops_the_worker():
    """The app closes every pipe and unnamed UNIX socket above 2 (the worker's
    notify channel to the supervisor): the worker stops by itself and is
    started again."""
    lost_descriptor_replaces_the_worker("/close-notify", "lost its notify pipe")


def main():
    runner = Runner(budget=300)
    runner.add("contract/run_workers_inherit_only_their_contract", run_workers_inherit_only_their_contract)
    runner.add("contract/serve_workers_inherit_only_their_contract", serve_workers_inherit_only_their_contract)
    runner.add("contract/closing_fd_3_or_5_hurts_no_worker", closing_fd_3_or_5_hurts_no_worker)
    runner.add("contract/closed_listening_socket_retires_the_worker", closed_listening_socket_retires_the_worker)
    runner.add("contract/closed_notify_pipe_stops_the_worker", closed_notify_pipe_stops_the_worker)
    runner.main()


if __name__ == "__main__":
    main()
