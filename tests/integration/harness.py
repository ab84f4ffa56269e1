"""Shared pieces for the integration scenarios: scratch directories, users,
processes that are always cleaned up, a real nginx, HTTP requests and a tiny
runner.

Run as root, stdlib only, by the Python the build embeds (Debian's
/usr/bin/python3.X, never a pyenv python3 first on PATH). Everything listens
on 127.0.0.1 or on UNIX sockets inside a scratch directory; every wait is
bounded in time and every loop in count.

Environment (meson sets the first three; the defaults suit a manual run from
the source tree after `meson setup build && ninja -C build`):
  WSGI_FPM         the wsgi-fpm executable
  WSGI_FPM_WORKER  the worker executable
  WSGI_FPM_SOURCE  the source root (for tests/apps and etc/)
  WFPM_KEEP=1      keep scratch directories for a post-mortem
"""
import atexit
import http.client as httpclient
import json
import os
import grp
import pwd
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import time
import traceback

SOURCE = os.environ.get("WSGI_FPM_SOURCE") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WSGI_FPM = os.environ.get("WSGI_FPM") or os.path.join(SOURCE, "build", "src", "wsgi-fpm")
WORKER = os.environ.get("WSGI_FPM_WORKER") or os.path.join(SOURCE, "build", "src", "wsgi-fpm-worker")
NGINX = "/usr/sbin/nginx"
APPS = os.path.join(SOURCE, "tests", "apps")
ETC = os.path.join(SOURCE, "etc")

TEST_USER = "wfpm-test"      # the pool's user: owns the apps, runs the workers
FRONTEND_USER = "www-data"   # nginx's workers run as this user

# --------------------------------------------------------------------------
# Cleanup: every process and scratch directory registers here, so a failure,
# an exception or meson's SIGTERM on timeout never leaves anything behind.

_procs = []
_dirs = []


def _cleanup():
    for p in reversed(_procs):
        try:
            p.kill()
        except Exception:  # cleanup must go on with the others
            traceback.print_exc(file=sys.stderr)
    _procs.clear()
    for d in reversed(_dirs):
        d.remove()
    _dirs.clear()


def _on_signal(signum, _frame):
    # Raising unwinds every `finally` of the running test, then atexit runs.
    raise SystemExit(128 + signum)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until it returns a true value; bounded in time and count."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# --------------------------------------------------------------------------
# Users and files


def ensure_user(name=TEST_USER):
    """Creates a system user once; a second run (or a concurrent one) is fine."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    try:
        grp.getgrnam(name)
        group = ["--gid", name]  # a group left behind by an earlier userdel
    except KeyError:
        group = ["--user-group"]
    r = subprocess.run(["useradd", "--system", *group, "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                       capture_output=True, text=True, timeout=30)
    try:
        return pwd.getpwnam(name)  # exit 9 may mean a concurrent run made it: fine
    except KeyError:
        raise RuntimeError(f"useradd {name} (exit {r.returncode}): {r.stderr.strip()}") from None


def chown_tree(path, user):
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(root, f), pw.pw_uid, pw.pw_gid)


class Scratch:
    """A temporary directory, world-traversable so nginx (www-data) and the
    pool user can reach sockets and apps inside it; removed at exit."""

    def __init__(self, prefix="wfpm-it-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.path, 0o755)
        _dirs.append(self)

    def sub(self, *parts):
        p = os.path.join(self.path, *parts)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, 0o755)
        return p

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    def remove(self):
        if os.environ.get("WFPM_KEEP"):
            print(f"# kept {self.path}", file=sys.stderr)
            return
        shutil.rmtree(self.path, ignore_errors=True)


def install_apps(scratch, owner=TEST_USER, extra=(), subdir="apps"):
    """Copies tests/apps (and any extra files) into SCRATCH/SUBDIR owned by the
    pool user, with a markers/ directory the app may write to. Returns the dir."""
    ensure_user(owner)
    d = scratch.sub(subdir)
    for name in os.listdir(APPS):
        src = os.path.join(APPS, name)
        if os.path.isfile(src):
            shutil.copy(src, os.path.join(d, name))
    for src in extra:
        shutil.copy(src, os.path.join(d, os.path.basename(src)))
    os.makedirs(os.path.join(d, "markers"), exist_ok=True)
    chown_tree(d, owner)
    return d


def free_port():
    """A loopback TCP port free right now (the usual small race is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------
# Processes


def _proc_table():
    """{pid: ppid} for every process now."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        table[int(entry)] = int(fields[1])
    return table


def descendants(pid):
    """Every live descendant of pid (children first, breadth first)."""
    table = _proc_table()
    children = {}
    for child, parent in table.items():
        children.setdefault(parent, []).append(child)
    out, queue = [], [pid]
    for _ in range(len(table) + 1):
        if not queue:
            break
        for c in children.get(queue.pop(0), []):
            out.append(c)
            queue.append(c)
    return out


def cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def is_zygote(pid):
    """The shared zygote (a wsgi-fpm-worker titled "wsgi-fpm zygote")."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().startswith(b"wsgi-fpm zygote")
    except OSError:
        return False


def is_spare(pid):
    """A spare the zygote or a template keeps forked ahead ("wsgi-fpm spare
    (zygote)", "TITLE spare"): no pool's worker until a request makes it one."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            title = f.read().split(b"\0")[0]
    except OSError:
        return False
    return title.startswith(b"wsgi-fpm spare") or title.rstrip().endswith(b" spare")


def spares(pid, title):
    """Descendants of `pid` whose process title is exactly `title` (a spare:
    "wsgi-fpm spare (zygote)", "(wsgi:POOL) spare")."""
    out = []
    for child in descendants(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                if f.read().split(b"\0")[0].decode(errors="replace").strip() == title:
                    out.append(child)
        except OSError:
            pass
    return out


def zombie_children(pid):
    """Children of `pid` that have exited and not been reaped."""
    out = []
    for child in descendants(pid):
        try:
            with open(f"/proc/{child}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            out.append(child)
    return out


def exe_name(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def proc_ids(pid):
    """(real, effective, saved, fs uids), same for gids, and supplementary groups."""
    uids = gids = groups = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "Uid":
                uids = tuple(int(x) for x in value.split())
            elif key == "Gid":
                gids = tuple(int(x) for x in value.split())
            elif key == "Groups":
                groups = tuple(int(x) for x in value.split())
    return uids, gids, groups


class Proc:
    """A child in its own session, output to files; killed (with its whole
    tree) at exit if the test did not stop it. pass_fds: descriptors of
    ours it inherits, at the same numbers (as from the shell that starts it)."""

    def __init__(self, argv, name, scratch, env=None, pass_fds=()):
        self.argv = argv
        self.name = name
        self.stdout_path = scratch.file(f"{name}.stdout")
        self.stderr_path = scratch.file(f"{name}.stderr")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                          env=env, start_new_session=True,
                                          pass_fds=pass_fds)
        self.pid = self.popen.pid
        _procs.append(self)

    def alive(self):
        return self.popen.poll() is None

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_tail(self, lines=25):
        return "\n".join(self.stderr().splitlines()[-lines:])

    def send(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """The exit status, or None if still running after timeout."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Asks politely; returns the exit status (killing the tree if it hangs)."""
        self.send(sig)
        rc = self.wait(timeout)
        self.kill()
        if rc is None:
            raise AssertionError(f"{self.name} did not exit within {timeout}s of signal {sig}")
        return rc

    def kill(self):
        """SIGKILL to the process group and every descendant, by pid; idempotent."""
        pids = descendants(self.pid) if self.alive() else []
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.wait(10)
        if self in _procs:
            _procs.remove(self)


def serve_env():
    """What a systemd unit would give: little, plus where the worker lives."""
    return {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8", "WSGI_FPM_WORKER": WORKER}


def wait_unix_socket(path, proc, timeout=20):
    """Until something accepts connections on path; fails early if proc dies."""
    def ready():
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode} before "
                                 f"listening on {path}:\n{proc.stderr_tail()}")
        if not os.path.exists(path):
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            try:
                s.connect(path)
                return True
            except OSError:
                return False
    wait_for(ready, timeout, what=f"{proc.name} listening on {path}")


def wait_tcp_port(port, proc, timeout=20, host="127.0.0.1"):
    def ready():
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode} before "
                                 f"listening on {host}:{port}:\n{proc.stderr_tail()}")
        try:
            socket.create_connection((host, port), timeout=2).close()
            return True
        except OSError:
            return False
    wait_for(ready, timeout, what=f"{proc.name} listening on {host}:{port}")


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
        argv = [WSGI_FPM, "serve", script, "--listen", listen, "--protocol", protocol, *args]
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

    def wait_stderr(self, needle, timeout=5):
        """Logs pass through the supervisor, so give them a moment to land."""
        return wait_for(lambda: needle in self.stderr(), timeout,
                        what=f"{needle!r} in {self.name}'s stderr")


def wsgi_fpm(*args, timeout=30, input=None):
    """Runs a wsgi-fpm subcommand to completion: CompletedProcess with bytes."""
    return subprocess.run([WSGI_FPM, *args], capture_output=True, timeout=timeout,
                          input=input, env=serve_env())


# --------------------------------------------------------------------------
# nginx

NGINX_MAIN = """\
# Written by tests/integration/harness.py; everything lives under {prefix}.
user {user};
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 2048; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/tmp/client_body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    scgi_temp_path {prefix}/tmp/scgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    default_type application/octet-stream;
    include {prefix}/site.conf;
}}
"""


def site_from_example(example, socket_path):
    """An etc/nginx example, as shipped, with only its address and socket
    replaced: `listen 80;` by `listen 127.0.0.1:{port};` (Nginx fills in the
    port), the example's /run/wsgi-fpm/hello.sock by the test's socket."""
    with open(os.path.join(ETC, "nginx", example)) as f:
        text = f.read()
    out = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("listen ") and stripped.endswith(";"):
            if "[::]" in stripped:
                continue  # loopback IPv4 only
            indent = line[:len(line) - len(line.lstrip())]
            line = f"{indent}listen 127.0.0.1:{{port}};"
        out.append(line)
    text = "\n".join(out) + "\n"
    if "/run/wsgi-fpm/hello.sock" not in text:
        raise AssertionError(f"{example} has no /run/wsgi-fpm/hello.sock to substitute")
    return text.replace("/run/wsgi-fpm/hello.sock", socket_path)


class Nginx(Proc):
    """A real nginx (master + one www-data worker) on 127.0.0.1:port with its
    own config, logs, pid and temp files under SCRATCH/nginx."""

    def __init__(self, scratch, site, name="nginx", port=None):
        self.port = port or free_port()
        self.prefix = scratch.sub(name)
        os.makedirs(os.path.join(self.prefix, "tmp"), exist_ok=True)
        for params in ("fastcgi_params", "scgi_params", "mime.types"):
            shutil.copy(os.path.join("/etc/nginx", params), self.prefix)
        site = site.replace("{port}", str(self.port))
        with open(os.path.join(self.prefix, "site.conf"), "w") as f:
            f.write(site)
        with open(os.path.join(self.prefix, "nginx.conf"), "w") as f:
            f.write(NGINX_MAIN.format(prefix=self.prefix, user=FRONTEND_USER))
        conf = os.path.join(self.prefix, "nginx.conf")
        test = subprocess.run([NGINX, "-t", "-p", self.prefix + "/", "-c", conf,
                               "-e", os.path.join(self.prefix, "error.log")],
                              capture_output=True, text=True, timeout=30)
        if test.returncode != 0:
            raise AssertionError(f"nginx -t refused the config:\n{test.stderr}\n--- site.conf:\n{site}")
        super().__init__([NGINX, "-p", self.prefix + "/", "-c", conf,
                          "-e", os.path.join(self.prefix, "error.log"), "-g", "daemon off;"],
                         name, scratch)
        wait_tcp_port(self.port, self)

    def error_log(self):
        try:
            with open(os.path.join(self.prefix, "error.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def error_tail(self, lines=15):
        return "\n".join(l for l in self.error_log().splitlines()[-lines:])

    def stop(self, sig=signal.SIGQUIT, timeout=15):
        return super().stop(sig, timeout)


# --------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] as received
        self.body = body

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def __repr__(self):
        return f"<{self.status} {self.reason} {self.headers!r} {self.body[:200]!r}>"


def fetch(port, method, path, body=None, headers=None, timeout=30):
    """One request on a fresh connection to 127.0.0.1:port; the body read to the end."""
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = {"Connection": "close"}
        hdrs.update(headers or {})
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.reason, resp.getheaders(), data)
    finally:
        conn.close()


def get(port, path, **kw):
    return fetch(port, "GET", path, **kw)


# --------------------------------------------------------------------------
# Runner


class Runner:
    """Runs test functions in order: `ok NAME` or `FAIL NAME: reason` each,
    then exactly `P passed, F failed` as the last line of stdout."""

    def __init__(self, budget=540):
        self.tests = []
        self.deadline = time.monotonic() + budget

    def add(self, name, fn, *args):
        self.tests.append((name, fn, args))

    def run_one(self, name, fn, args):
        if time.monotonic() > self.deadline:
            return False, "not run: the file's time budget is spent"
        try:
            fn(*args)
            return True, ""
        except SystemExit:
            raise
        except BaseException as e:  # a test's failure must not stop the others
            traceback.print_exc(file=sys.stderr)
            reason = (str(e).strip() or type(e).__name__).splitlines()[0]
            if len(reason) > 400:  # the whole story is on stderr
                reason = reason[:400] + "..."
            return False, reason

    def main(self):
        passed = failed = 0
        try:
            for name, fn, args in self.tests:
                print(f"# {name}", file=sys.stderr, flush=True)
                ok, reason = self.run_one(name, fn, args)
                if ok:
                    passed += 1
                    print(f"ok {name}", flush=True)
                else:
                    failed += 1
                    print(f"FAIL {name}: {reason}", flush=True)
        finally:
            _cleanup()
            ran = passed + failed
            failed += len(self.tests) - ran  # interrupted: the rest count as failed
            print(f"{passed} passed, {failed} failed", flush=True)
        sys.exit(1 if failed or not passed else 0)


class Group:
    """Tests that share an expensive fixture (a serve + an nginx). The fixture
    starts on the first test that needs it; if it cannot start, each of its
    tests fails with that reason instead of crashing the file."""

    def __init__(self, setup):
        self._setup = setup
        self._value = None
        self._error = None
        self._teardowns = []

    def get(self):
        if self._error:
            raise AssertionError(f"setup failed: {self._error}")
        if self._value is None:
            try:
                self._value = self._setup(self._teardowns.append)
            except Exception as e:
                self._error = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                traceback.print_exc(file=sys.stderr)
                self.close()
                raise AssertionError(f"setup failed: {self._error}") from e
        return self._value

    def close(self):
        while self._teardowns:
            try:
                self._teardowns.pop()()
            except Exception:
                traceback.print_exc(file=sys.stderr)


# --------------------------------------------------------------------------
# Groups, for pools whose users have supplementary groups


def ensure_group(name):
    """Creates a system group once; a second (or concurrent) run is fine."""
    try:
        return grp.getgrnam(name)
    except KeyError:
        pass
    r = subprocess.run(["groupadd", "--system", name], capture_output=True, text=True, timeout=30)
    try:
        return grp.getgrnam(name)
    except KeyError:
        raise RuntimeError(f"groupadd {name} (exit {r.returncode}): {r.stderr.strip()}") from None


def ensure_member(user, group):
    """Makes user a member of group (in /etc/group); idempotent."""
    if user in grp.getgrnam(group).gr_mem:
        return
    r = subprocess.run(["usermod", "--append", "--groups", group, user],
                       capture_output=True, text=True, timeout=30)
    if user not in grp.getgrnam(group).gr_mem:
        raise RuntimeError(f"usermod -aG {group} {user} (exit {r.returncode}): {r.stderr.strip()}")


# --------------------------------------------------------------------------
# The supervisor: `wsgi-fpm run -c FILE` with a config written from a dict


def _yaml_scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(str(value))  # a double-quoted JSON string is a YAML string


def to_yaml(value, indent=0):
    """Block-style YAML for dicts, lists and scalars: enough for a wsgi-fpm config.
    Strings are always quoted, so "0600" stays a string and "%{GROUP}" is no flow map."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {_yaml_scalar(v)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                body = to_yaml(item, indent + 1)
                lines.append(f"{pad}- " + body[len(pad) + 2:])
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        lines.append(pad + _yaml_scalar(value))
    return "\n".join(lines)


def write_config(path, config):
    """Writes the YAML atomically (a reload never sees half a file)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("# Written by tests/integration/harness.py\n" + to_yaml(config) + "\n")
    os.replace(tmp, path)


def listen_ready(listen):
    """True when something accepts connections on a pool's `listen`."""
    try:
        if listen.startswith("/"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(listen)
        else:
            host, _, port = listen.rpartition(":")
            socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
        return True
    except OSError:
        return False


class Supervisor(Proc):
    """`wsgi-fpm run -c SCRATCH/NAME.yaml` in the foreground; the config is a
    dict (see to_yaml) that reload tests change and write again."""

    def __init__(self, scratch, config, name="supervisor", wait=True, timeout=30, pass_fds=()):
        self.config_path = scratch.file(f"{name}.yaml")
        self.config = config
        write_config(self.config_path, config)
        super().__init__([WSGI_FPM, "run", "-c", self.config_path], name, scratch, env=serve_env(),
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

    def wait_stderr(self, needle, timeout=5):
        return wait_for(lambda: needle in self.stderr(), timeout,
                        what=f"{needle!r} in {self.name}'s stderr")


# --------------------------------------------------------------------------
# A small FastCGI client, for load loops that must tell a refused connection
# from one that a dying worker closed (the CLI would cost a process a request)


class FcgiClosed(Exception):
    """The connection was closed (or reset) before the whole response came."""


class FcgiConnectError(Exception):
    """connect() itself failed."""


def _fcgi_record(rtype, content, request_id=1):
    return struct.pack("!BBHHBx", 1, rtype, request_id, len(content), 0) + content


def _fcgi_pair(name, value):
    out = b""
    for n in (len(name), len(value)):
        out += bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
    return out + name + value


def fcgi_request(listen, uri, method="GET", body=b"", timeout=30, params=None):
    """One FastCGI request on a fresh connection to a pool's `listen` (a UNIX
    socket path or HOST:PORT): a Response (status from the Status header,
    200 without one). FcgiConnectError or FcgiClosed when it did not happen."""
    path, _, query = uri.partition("?")
    p = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": method, "REQUEST_URI": uri,
         "SCRIPT_NAME": "", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "localhost",
         "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
         "REMOTE_PORT": "0", "HTTP_HOST": "localhost", "CONTENT_LENGTH": str(len(body)) if body else ""}
    p.update(params or {})
    if listen.startswith("/"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target = listen
    else:
        host, _, port = listen.rpartition(":")
        s = socket.socket(socket.AF_INET6 if host.startswith("[") else socket.AF_INET, socket.SOCK_STREAM)
        target = (host.strip("[]"), int(port))
    s.settimeout(timeout)
    try:
        try:
            s.connect(target)
        except OSError as e:
            raise FcgiConnectError(f"connect {listen}: {e}") from None
        pairs = b"".join(_fcgi_pair(k.encode(), v.encode("latin-1")) for k, v in p.items())
        out = _fcgi_record(1, struct.pack("!HB5x", 1, 0))  # BEGIN_REQUEST, responder, no keep-conn
        out += _fcgi_record(4, pairs) + _fcgi_record(4, b"")
        for i in range(0, len(body), 65535):
            out += _fcgi_record(5, body[i:i + 65535])
        out += _fcgi_record(5, b"")
        stdout = bytearray()
        buf = bytearray()
        try:
            s.sendall(out)
            ended = False
            while not ended:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 8:
                    _, rtype, _, clen, plen = struct.unpack("!BBHHB", bytes(buf[:7]))
                    if len(buf) < 8 + clen + plen:
                        break
                    content = bytes(buf[8:8 + clen])
                    del buf[:8 + clen + plen]
                    if rtype == 6:
                        stdout += content
                    elif rtype == 3:
                        ended = True
                        break
        except (ConnectionResetError, BrokenPipeError) as e:
            raise FcgiClosed(f"{listen} {uri}: {e}") from None
        if not ended:
            raise FcgiClosed(f"{listen} {uri}: closed before END_REQUEST "
                             f"({len(stdout)} bytes of output)")
    finally:
        s.close()
    head, sep, data = bytes(stdout).partition(b"\r\n\r\n")
    if not sep:
        head, sep, data = bytes(stdout).partition(b"\n\n")
    headers = []
    for line in head.replace(b"\r\n", b"\n").split(b"\n"):
        name, colon, value = line.partition(b":")
        if colon:
            headers.append((name.strip().decode("latin-1"), value.strip().decode("latin-1")))
    status_line = next((v for k, v in headers if k.lower() == "status"), "200 OK")
    code, _, reason = status_line.partition(" ")
    return Response(int(code), reason, headers, data)


# --------------------------------------------------------------------------
# Apache and lighttpd: like Nginx above, a throw-away instance on
# 127.0.0.1:FREEPORT running an example of etc/apache or etc/lighttpd as
# shipped (only its address, socket and document root replaced), with its own
# config, logs and pid under SCRATCH/NAME; stopped by pid, never the system's.

APACHE = "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"
LIGHTTPD = "/usr/sbin/lighttpd"
EXAMPLE_SOCKET = "/run/wsgi-fpm/hello.sock"   # what every etc/ example connects to
EXAMPLE_DOCROOT = "/var/www/html"


def example_with(frontend, example, socket_path, replacements=()):
    """The text of etc/FRONTEND/EXAMPLE with its socket replaced by socket_path
    and each (old, new) of replacements applied; an example that lacks what is
    to be replaced is an error, so examples and tests cannot drift apart."""
    with open(os.path.join(ETC, frontend, example)) as f:
        text = f.read()
    for old, new in ((EXAMPLE_SOCKET, socket_path), *replacements):
        if old not in text:
            raise AssertionError(f"etc/{frontend}/{example} has no {old} to substitute")
        text = text.replace(old, new)
    return text


APACHE_MAIN = """\
# Written by tests/integration/harness.py; everything lives under {prefix}.
ServerRoot {prefix}
DefaultRuntimeDir {prefix}/run
PidFile {prefix}/apache2.pid
ErrorLog {prefix}/error.log
LogLevel warn
Listen 127.0.0.1:{port}
ServerName localhost
User {user}
Group {user}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule proxy_module {modules}/mod_proxy.so
LoadModule proxy_fcgi_module {modules}/mod_proxy_fcgi.so
LoadModule proxy_scgi_module {modules}/mod_proxy_scgi.so
StartServers 1
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 8
MaxSpareThreads 64
LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
CustomLog {prefix}/access.log common
Include {prefix}/site.conf
"""


def _frontend_prefix(scratch, name):
    prefix = scratch.sub(name)
    for d in ("htdocs", "tmp", "run"):
        os.makedirs(os.path.join(prefix, d), exist_ok=True)
    return prefix


class _Frontend(Proc):
    """What Apache and Lighttpd share: logs under prefix, a port, a stop."""

    def error_log(self):
        try:
            with open(os.path.join(self.prefix, "error.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def error_tail(self, lines=15):
        return "\n".join(self.error_log().splitlines()[-lines:])


class Apache(_Frontend):
    """A real Apache 2.4 (event MPM, children as www-data) on 127.0.0.1:port:
    `apache2 -f PREFIX/apache2.conf -DFOREGROUND`, the example site included
    from PREFIX/site.conf. Apache's ServerRoot, pid, logs and runtime files
    are all under PREFIX."""

    def __init__(self, scratch, example, socket_path, name="apache", port=None):
        self.port = port or free_port()
        self.prefix = _frontend_prefix(scratch, name)
        self.example = example
        site = example_with("apache", example, socket_path,
                            [("<VirtualHost *:80>", f"<VirtualHost 127.0.0.1:{self.port}>"),
                             (EXAMPLE_DOCROOT, os.path.join(self.prefix, "htdocs"))])
        with open(os.path.join(self.prefix, "site.conf"), "w") as f:
            f.write(site)
        conf = os.path.join(self.prefix, "apache2.conf")
        with open(conf, "w") as f:
            f.write(APACHE_MAIN.format(prefix=self.prefix, port=self.port, user=FRONTEND_USER,
                                       modules=APACHE_MODULES))
        test = subprocess.run([APACHE, "-t", "-f", conf], capture_output=True, text=True, timeout=30)
        if test.returncode != 0:
            raise AssertionError(f"apache2 -t refused the config:\n{test.stderr}\n--- site.conf:\n{site}")
        super().__init__([APACHE, "-f", conf, "-DFOREGROUND"], name, scratch)
        wait_tcp_port(self.port, self)


LIGHTTPD_MAIN = """\
# Written by tests/integration/harness.py; everything lives under {prefix}.
server.document-root = "{prefix}/htdocs"
server.bind = "127.0.0.1"
server.port = {port}
server.pid-file = "{prefix}/run/lighttpd.pid"
server.errorlog = "{prefix}/error.log"
server.username = "{user}"
server.groupname = "{user}"
server.upload-dirs = ("{prefix}/tmp")
server.modules = ("mod_accesslog")
accesslog.filename = "{prefix}/access.log"
include "{prefix}/site.conf"
"""


class Lighttpd(_Frontend):
    """A real lighttpd (one process, www-data after start) on 127.0.0.1:port:
    `lighttpd -D -f PREFIX/lighttpd.conf`, the example included from
    PREFIX/site.conf. PREFIX belongs to www-data: lighttpd opens its logs
    after dropping root."""

    def __init__(self, scratch, example, socket_path, name="lighttpd", port=None):
        self.port = port or free_port()
        self.prefix = _frontend_prefix(scratch, name)
        self.example = example
        site = example_with("lighttpd", example, socket_path)
        with open(os.path.join(self.prefix, "site.conf"), "w") as f:
            f.write(site)
        conf = os.path.join(self.prefix, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(LIGHTTPD_MAIN.format(prefix=self.prefix, port=self.port, user=FRONTEND_USER))
        chown_tree(self.prefix, FRONTEND_USER)
        test = subprocess.run([LIGHTTPD, "-tt", "-f", conf], capture_output=True, text=True, timeout=30)
        if test.returncode != 0:
            raise AssertionError(f"lighttpd -tt refused the config:\n{test.stdout}{test.stderr}"
                                 f"\n--- site.conf:\n{site}")
        super().__init__([LIGHTTPD, "-D", "-f", conf], name, scratch)
        wait_tcp_port(self.port, self)


def start_frontend(scratch, frontend, example, socket_path, name=None):
    """nginx, apache or lighttpd running etc/FRONTEND/EXAMPLE in front of the
    pool socket socket_path; each has .port, .error_tail() and .kill()."""
    name = name or f"{frontend}-{os.path.splitext(example)[0]}"
    if frontend == "nginx":
        n = Nginx(scratch, site_from_example(example, socket_path), name=name)
        n.example = example
        return n
    if frontend == "apache":
        return Apache(scratch, example, socket_path, name=name)
    if frontend == "lighttpd":
        return Lighttpd(scratch, example, socket_path, name=name)
    raise ValueError(f"unknown frontend {frontend}")


def install_tree(scratch, name, owner=TEST_USER, subdir=None):
    """Copies the directory tests/apps/NAME into SCRATCH/SUBDIR (default NAME),
    owned by the pool user, with a markers/ directory the app may write to.
    Returns the copy's path."""
    ensure_user(owner)
    dest = scratch.file(subdir or name)
    shutil.copytree(os.path.join(APPS, name), dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    os.makedirs(os.path.join(dest, "markers"), exist_ok=True)
    for root, dirs, _files in os.walk(dest):
        os.chmod(root, 0o755)
    chown_tree(dest, owner)
    return dest


def raw_http(port, target, method="GET", body=None, headers=None, chunked=False, timeout=30):
    """One HTTP/1.1 request to 127.0.0.1:port with the request target sent
    byte for byte (a str as UTF-8), so raw non-ASCII, `%2F`, `//` and `..`
    reach the server as written; http.client refuses or alters some of them.
    A body goes with Content-Length or, with chunked=True, in three chunks.
    `headers` (a dict) may replace Host. Returns a Response."""
    if isinstance(target, str):
        target = target.encode("utf-8")
    hdrs = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
    hdrs.update(headers or {})
    payload = b""
    if body is not None:
        if chunked:
            hdrs["Transfer-Encoding"] = "chunked"
            third = max(1, len(body) // 3)
            for i in range(0, len(body), third):
                piece = body[i:i + third]
                payload += b"%x\r\n" % len(piece) + piece + b"\r\n"
            payload += b"0\r\n\r\n"
        else:
            hdrs["Content-Length"] = str(len(body))
            payload = body
    head = method.encode() + b" " + target + b" HTTP/1.1\r\n"
    head += b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in hdrs.items()) + b"\r\n"
    data = bytearray()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + payload)
        deadline = time.monotonic() + timeout
        for _ in range(1000000):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {target!r}: response not finished in {timeout}s")
    head_bytes, sep, rest = bytes(data).partition(b"\r\n\r\n")
    if not sep:
        raise AssertionError(f"{method} {target!r}: no complete response head in {bytes(data)[:300]!r}")
    lines = head_bytes.decode("latin-1").split("\r\n")
    _, code, reason = (lines[0].split(" ", 2) + [""])[:3]
    headers_out = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers_out.append((k.strip(), v.strip()))
    resp = Response(int(code), reason, headers_out, rest)
    if method == "HEAD":
        resp.body = b""
    elif (resp.header("Transfer-Encoding") or "").lower() == "chunked":
        resp.body = _dechunk(rest)
    return resp


def _dechunk(data):
    out = bytearray()
    for _ in range(len(data) + 1):
        size_line, sep, data = data.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return bytes(out)
