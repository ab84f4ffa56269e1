"""wsgi-fpm itself: `wsgi-fpm run -c FILE` (Supervisor, its config a dict that
reload tests change and write again), `wsgi-fpm serve` (Serve), any other
subcommand run to completion (wsgi_fpm), and the checks made when one stops."""
import json
import os
import signal
import stat
import subprocess

from . import paths
from .files import Scratch, install_apps
from .processes import Proc, descendants, exe_name, is_spare, is_zygote
from .sockets import listen_ready, wait_tcp_port, wait_unix_socket
from .users import TA, ensure_tenants
from .waiting import wait_for
from .yaml_config import procinfo_pool, small_config, write_config


def serve_env():
    """What a systemd unit would give: little, plus where the worker lives."""
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8", "WSGI_FPM_WORKER": paths.WORKER}


def wsgi_fpm(*args, timeout=30, input=None):
    """Runs a wsgi-fpm subcommand to completion: CompletedProcess with bytes."""
    return subprocess.run([paths.WSGI_FPM, *args], capture_output=True, timeout=timeout,
                          input=input, env=serve_env())


class Serve(Proc):
    """`wsgi-fpm serve SCRIPT --listen unix:SOCK ...` running in the foreground."""

    def __init__(self, scratch, script, name="serve", protocol="fastcgi", listen=None,
                 args=(), wait=True, pass_fds=()):
        self.socket_path = None
        if listen is None:
            self.socket_path = os.path.join(scratch.sub("run"), f"{name}.sock")
            listen = f"unix:{self.socket_path}"
        elif listen.startswith("unix:"):
            self.socket_path = listen[len("unix:"):]
        elif listen.startswith("/"):
            self.socket_path = listen
        self.listen = listen
        self.protocol = protocol
        argv = [paths.WSGI_FPM, "serve", script, "--listen", listen, "--protocol", protocol, *args]
        super().__init__(argv, name, scratch, env=serve_env(), pass_fds=pass_fds)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=20):
        if self.socket_path:
            wait_unix_socket(self.socket_path, self, timeout)
        else:
            host, _, port = self.listen.rpartition(":")
            wait_tcp_port(int(port), self, timeout, host.strip("[]"))

    def workers(self):
        """Pids of the worker processes under this serve."""
        return [p for p in descendants(self.pid) if exe_name(p).startswith("wsgi-fpm-worker")]


class Supervisor(Proc):
    """`wsgi-fpm run -c SCRATCH/NAME.yaml` in the foreground; the config is a
    dict (see yaml_config.to_yaml) that reload tests change and write again."""

    def __init__(self, scratch, config, name="supervisor", wait=True, timeout=30, pass_fds=()):
        self.config_path = scratch.file(f"{name}.yaml")
        self.config = config
        write_config(self.config_path, config)
        super().__init__([paths.WSGI_FPM, "run", "-c", self.config_path], name, scratch, env=serve_env(),
                         pass_fds=pass_fds)
        if wait:
            self.wait_ready(timeout)

    @property
    def runtime_dir(self):
        return self.config.get("runtime-dir", "/run/wsgi-fpm")

    @property
    def control_socket(self):
        return os.path.join(self.runtime_dir, "control.sock")

    def pools(self):
        return self.config.get("pools", {})

    def rewrite(self, config):
        self.config = config
        write_config(self.config_path, config)

    def ctl(self, command, *args, timeout=30):
        """`wsgi-fpm COMMAND -c FILE ARGS`: CompletedProcess with bytes."""
        return wsgi_fpm(command, "-c", self.config_path, *args, timeout=timeout)

    def status(self):
        r = self.ctl("status", "--json")
        if r.returncode != 0:
            raise AssertionError(f"wsgi-fpm status --json exited {r.returncode}: "
                                 f"{r.stderr.decode(errors='replace').strip()}")
        try:
            return json.loads(r.stdout)
        except ValueError as e:
            raise AssertionError(f"status --json is no JSON ({e}): {r.stdout[:300]!r}") from None

    def pool_status(self, name, status=None):
        for p in (status or self.status()).get("pools", []):
            if p.get("name") == name:
                return p
        return None

    def pids(self, name, state="ready"):
        """Sorted pids of a pool's workers in `state` (None: any state)."""
        p = self.pool_status(name)
        if p is None:
            return []
        return sorted(w["pid"] for w in p.get("workers", []) if state is None or w.get("state") == state)

    def settled(self, name):
        """The pool's pids once exactly `processes` workers run, all ready, no
        other (starting or stopping) one beside them; else None."""
        if not self.alive():
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n"
                                 f"{self.stderr_tail()}")
        p = self.pool_status(name)
        if p is None:
            return None
        want = self.pools()[name].get("processes", 1)
        workers = p.get("workers", [])
        if len(workers) == want and all(w.get("state") == "ready" for w in workers):
            return sorted(w["pid"] for w in workers)
        return None

    def wait_settled(self, name, timeout=30, what=None):
        try:
            return wait_for(lambda: self.settled(name), timeout, interval=0.1,
                            what=what or f"pool {name} to run its processes, all ready")
        except AssertionError as e:
            try:
                seen = json.dumps(self.pool_status(name))
            except AssertionError as s:
                seen = str(s)
            raise AssertionError(f"{e}; status: {seen}\n{self.stderr_tail()}") from None

    def listen_of(self, name):
        """A pool's address: its `listen`, by default <runtime-dir>/<name>.sock."""
        return self.pools()[name].get("listen") or os.path.join(self.runtime_dir, f"{name}.sock")

    def wait_control(self, timeout=30):
        """Until something accepts connections on the control socket."""
        def up():
            if not self.alive():
                raise AssertionError(f"{self.name} exited with {self.popen.returncode} before "
                                     f"it was ready:\n{self.stderr_tail()}")
            return os.path.exists(self.control_socket) and listen_ready(self.control_socket)
        wait_for(up, timeout, what=f"{self.name}'s control socket {self.control_socket}")

    def wait_ready(self, timeout=30):
        """Until the control socket answers and every pool listens and, when it
        runs a fixed number of processes (process-manager static), is settled."""
        self.wait_control(timeout)
        for name, pool in self.pools().items():
            listen = self.listen_of(name)
            if pool.get("process-manager", "static") == "static":
                wait_for(lambda: listen_ready(listen), timeout, what=f"pool {name} listening")
                self.wait_settled(name, timeout)
            elif listen.startswith("/"):
                # A test connection would be demand: ondemand would start a process.
                wait_for(lambda: os.path.exists(listen) and stat.S_ISSOCK(os.stat(listen).st_mode), timeout,
                         what=f"pool {name}'s socket {listen}")

    def workers(self):
        """Pids of every worker process under this supervisor (templates
        included; not the shared zygote nor a spare, which serve no pool)."""
        return [p for p in descendants(self.pid)
                if exe_name(p).startswith("wsgi-fpm-worker") and not is_zygote(p) and not is_spare(p)]


def live_pids(sup, pool):
    """Pids of the pool's workers that are starting or ready (not stopping)."""
    p = sup.pool_status(pool) or {}
    return sorted(w["pid"] for w in p.get("workers", []) if w.get("state") in ("starting", "ready"))


def procinfo_supervisor(prefix, pools):
    """A supervisor of its own (scratch directory PREFIX*) running each of
    `pools` ({name: keys}) as a procinfo_pool of wfpm-ta, apps in SCRATCH/ta."""
    ensure_tenants()
    scratch = Scratch(prefix=prefix)
    apps = install_apps(scratch, owner=TA, subdir="ta")
    config = small_config(scratch, {name: procinfo_pool(scratch, apps, name, **keys) for name, keys in pools.items()})
    return Supervisor(scratch, config)


def worker_alive(pid):
    """pid still runs a wsgi-fpm worker."""
    return os.path.exists(f"/proc/{pid}") and exe_name(pid).startswith("wsgi-fpm-worker")


def stop_and_check(sup, pids, files, how=None):
    """SIGTERM (or `how()`), then: exit status 0, none of `pids` alive, none of
    `files` left. Checked before the clean-up kills anything that is left."""
    if how:
        how()
    else:
        sup.send(signal.SIGTERM)
    rc = sup.wait(30)
    try:
        if rc is None:
            raise AssertionError(f"{sup.name} still runs 30 s after being told to stop:\n{sup.stderr_tail()}")
        left = [p for p in pids if worker_alive(p)]
        paths_left = [f for f in files if os.path.exists(f)]
        if left or paths_left:
            raise AssertionError(f"left behind by {sup.name}: workers {left}, files {paths_left}")
        if rc != 0:
            raise AssertionError(f"{sup.name} exited with {rc}:\n{sup.stderr_tail()}")
    finally:
        sup.kill()
