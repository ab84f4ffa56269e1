"""The servers scripts/bench measures, one small class each, and the
processes it starts for them.

Every server runs from its own config in the run's temporary directory, on a
UNIX socket there or on a 127.0.0.1 port, with its output in TMP/NAME.log,
and is stopped by its pid. A Server writes its config (config()), names its
command (argv()) and is started and stopped by the Processes table, which
remembers every process not yet stopped so that an interrupted run leaves
none behind.

FastCGI servers (addr: the socket path) are measured by wsgi-fpm-loadgen;
HTTP stacks (addr: the port) by wrk: nginx in front of a FastCGI server, or
Apache with mod_wsgi.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from density import children_map, machine_busy, title_of  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def tail(paths, lines=20):
    """The last lines of each file on stderr, as `tail -n 20 FILE...` prints them."""
    for i, path in enumerate(paths):
        if len(paths) > 1:
            print(("\n" if i else "") + f"==> {path} <==", file=sys.stderr)
        try:
            with open(path, "rb") as f:
                text = b"".join(f.readlines()[-lines:]).decode("utf-8", "replace")
        except OSError as e:
            print(f"tail: cannot open '{path}': {e.strerror}", file=sys.stderr)
            continue
        sys.stderr.write(text)
    sys.stderr.flush()


# --- processes -------------------------------------------------------------

class Processes:
    """The run's temporary directory and every server process started in it
    and not stopped yet; names (wsgi-fpm-1, nginx-2, ...) and HTTP ports
    (from 18081) count up over the run."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.started = []  # Popen of each process started and not stopped
        self.seq = 0
        self.http_port = 18080

    def next_name(self, prefix):
        self.seq += 1
        return f"{prefix}-{self.seq}"

    def next_port(self):
        self.http_port += 1
        return self.http_port

    def path(self, name):
        return os.path.join(self.tmp, name)

    def spawn(self, name, argv, env=None):
        """Starts a server in the background, its output in TMP/NAME.log;
        None if it cannot run (a tool missing: that server's rows stay empty)."""
        with open(self.path(name + ".log"), "wb") as out:
            try:
                proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        env=env)
            except OSError as e:
                out.write(f"cannot run {argv[0]}: {e.strerror}\n".encode())
                return None
        self.started.append(proc)
        return proc

    def stop(self, proc, seconds=10):
        """SIGTERM, then SIGKILL after `seconds`; always reaps."""
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(seconds)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc in self.started:
            self.started.remove(proc)

    def stop_all(self):
        for proc in list(self.started):
            self.stop(proc)


# --- what a server costs -----------------------------------------------------

def _ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime, stime
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pids):
    """CPU seconds (user + system) of the given processes and their live children."""
    kids = children_map()
    return sum(_ticks(p) for pid in pids for p in [pid] + kids.get(pid, [])) / TICK


def background_busy():
    """Share of the machine's CPU busy over half a second while our servers are
    idle: other work on the machine, recorded with each measurement so that a
    noisy run shows."""
    t0, i0 = machine_busy()
    time.sleep(0.5)
    t1, i1 = machine_busy()
    return round(100 * (1 - (i1 - i0) / max(1, t1 - t0)), 1)


def mem_kb(pid):
    """(RSS, PSS, private) in KiB from smaps_rollup. RSS counts every shared
    library page a process has mapped, and a forked worker has not mapped what
    its master touched before fork(): PSS (shared pages divided among their
    users) and private memory are what a process really costs."""
    rss = pss = private = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key == "Rss":
                    rss = int(rest.split()[0])
                elif key == "Pss":
                    pss = int(rest.split()[0])
                elif key in ("Private_Clean", "Private_Dirty"):
                    private += int(rest.split()[0])
    except (OSError, IndexError, ValueError):
        return 0, 0, 0
    return rss, pss, private


def memory(master, pattern=""):
    """{"master": KB, "workers": [KB, ...], "master_pss_private": [PSS, PRIVATE],
    "workers_pss_private": [[PSS, PRIVATE], ...]} for a master and its worker
    children; `pattern` selects workers among the children by process title
    (empty: all of them). A wsgi-fpm preload-fork template ("... template") is
    no worker: it counts with the master, as uWSGI's master, which holds the
    preloaded app, does; so does the spare it keeps forked ahead ("... spare")."""
    workers, detail, helper = [], [], [0, 0, 0]
    for pid in sorted(children_map().get(master, [])):
        title = title_of(pid)
        m = mem_kb(pid)
        if " template" in title or " spare" in title:
            helper = [a + b for a, b in zip(helper, m)]
            continue
        if pattern and pattern not in title:
            continue
        workers.append(m[0])
        detail.append([m[1], m[2]])
    r, p, v = (a + b for a, b in zip(mem_kb(master), helper))
    return {"master": r, "workers": workers, "master_pss_private": [p, v], "workers_pss_private": detail}


# --- servers ---------------------------------------------------------------

class Server:
    """One server process: its name (and log TMP/NAME.log), its config, its
    command. `wrap` goes in front of the command (valgrind)."""
    prefix = "server"
    mem_pattern = ""  # what memory() counts as workers among its children

    def __init__(self, procs, wrap=()):
        self.procs, self.wrap = procs, list(wrap)
        self.name = procs.next_name(self.prefix)
        self.proc = None

    def config(self):
        """Writes the server's config files, if it has any."""

    def argv(self):
        raise NotImplementedError

    def env(self):
        return None

    def logs(self):
        return [self.procs.path(self.name + ".log")]

    def start(self):
        self.config()
        self.proc = self.procs.spawn(self.name, self.wrap + self.argv(), self.env())
        return self

    def running(self):
        return self.proc is not None

    def stop(self, seconds=10):
        if self.proc is not None:
            self.procs.stop(self.proc, seconds)

    @property
    def pid(self):
        return self.proc.pid


class FastCgiServer(Server):
    """A FastCGI server on TMP/NAME.sock serving `app` with `processes` x
    `threads`; `extra` are more options of its command. client_args() are
    what the load generator must add to reach the app."""

    def __init__(self, procs, tools, app, processes, threads, *extra, wrap=()):
        super().__init__(procs, wrap)
        self.tools, self.app, self.processes, self.threads, self.extra = tools, app, processes, threads, extra
        self.addr = procs.path(self.name + ".sock")

    def client_args(self):
        return []


class WsgiFpm(FastCgiServer):
    """`wsgi-fpm serve APP`; `worker` replaces the worker executable
    (WSGI_FPM_WORKER, by default the environment's or the build's)."""
    prefix = "wsgi-fpm"

    def __init__(self, *args, worker=None):
        super().__init__(*args)
        self.worker = worker or os.environ.get("WSGI_FPM_WORKER") or self.tools.worker

    def argv(self):
        return [self.tools.wsgi_fpm, "serve", self.app, "--listen", "unix:" + self.addr,
                "--processes", str(self.processes), "--threads", str(self.threads), "--allow-root", *self.extra]

    def env(self):
        return dict(os.environ, WSGI_FPM_WORKER=self.worker)


class Uwsgi(FastCgiServer):
    """uWSGI with its FastCGI socket. With processes None: no master and one
    process, so that uWSGI serves from the process it was started as
    (callgrind)."""
    prefix = "uwsgi"

    def argv(self):
        pool = [] if self.processes is None else ["--processes", str(self.processes), "--threads",
                                                  str(self.threads), "--master"]
        return ["uwsgi", "--plugin", "python3", "--fastcgi-socket", self.addr, "--wsgi-file", self.app, *pool,
                "--disable-logging", "--die-on-term", "--need-app", *self.extra]


class PhpFpm(FastCgiServer):
    """PHP-FPM, `pm = static` with processes x threads children, serving
    hello.php from beside the WSGI app: what the protocol and the process
    model cost without Python."""
    prefix = "php-fpm"

    def __init__(self, *args):
        super().__init__(*args)
        self.script = os.path.join(os.path.dirname(self.app), "hello.php")
        self.conf = self.procs.path(self.name + ".conf")

    def config(self):
        t = self.procs.path(self.name)
        with open(self.conf, "w") as f:
            f.write(f"""[global]
pid = {t}.pid
error_log = {t}-error.log
daemonize = no

[bench]
user = root
listen = {self.addr}
pm = static
pm.max_children = {self.processes * self.threads}
""")

    def argv(self):
        return ["php-fpm8.2", "-F", "-R", "-y", self.conf]

    def client_args(self):
        return ["--param", "SCRIPT_FILENAME=" + self.script,
                "--param", "SCRIPT_NAME=/" + os.path.basename(self.script)]


class Responder(FastCgiServer):
    """The libfcgi C responder (bench/fcgi_responder.c), C code instead of
    the app: one process of processes x threads threads."""
    prefix = "libfcgi"

    def argv(self):
        return [self.tools.responder, self.addr, str(self.processes * self.threads)]


class HttpServer(Server):
    """An HTTP server on 127.0.0.1:addr."""

    def __init__(self, procs):
        super().__init__(procs)
        self.addr = procs.next_port()
        self.conf = procs.path(self.name + ".conf")
        self.error_log = procs.path(self.name + "-error.log")

    def logs(self):
        return super().logs() + [self.error_log]


class Nginx(HttpServer):
    """nginx in front of an already started FastCGI server at `upstream`: one
    worker, as root so that it reaches the backends' sockets."""
    prefix = "nginx"

    def __init__(self, procs, upstream, keep_alive=False):
        super().__init__(procs)
        self.upstream = upstream
        self.keep_alive = keep_alive

    def config(self):
        t = self.procs.path(self.name)
        os.makedirs(t, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(f"""daemon off;
# The backends' sockets belong to root (the scripts run as root); let the workers reach them.
user root root;
master_process on;
worker_processes 1;
pid {t}.pid;
error_log {self.error_log} warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {t}/body;
  fastcgi_temp_path {t}/fastcgi;
  proxy_temp_path {t}/proxy;
  scgi_temp_path {t}/scgi;
  uwsgi_temp_path {t}/uwsgi;
  # Keep the 1 MiB bodies in memory both ways: measure the app servers, not the disk.
  client_max_body_size 2m;
  client_body_buffer_size 2m;
  fastcgi_buffers 32 64k;
  # etc/nginx/wsgi-fpm-fastcgi-keepalive.conf's way, when keep_alive.
  upstream backend {{
    server unix:{self.upstream};
    {"keepalive 8;" if self.keep_alive else ""}
  }}
  server {{
    listen 127.0.0.1:{self.addr};
    location / {{
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_NAME "";
      fastcgi_param PATH_INFO $uri;
      fastcgi_pass backend;
      {"fastcgi_keep_conn on;" if self.keep_alive else ""}
    }}
  }}
}}
""")

    def argv(self):
        return ["nginx", "-c", self.conf, "-e", self.error_log]


class Apache(HttpServer):
    """Apache, mpm_event, with mod_wsgi in daemon mode: `processes` daemon
    processes of `threads` threads, as www-data."""
    prefix = "apache"
    # mod_wsgi writes display-name over argv[0], cut to its length: "(wsgi:b".
    mem_pattern = "(wsgi:"

    def __init__(self, procs, app, processes, threads):
        super().__init__(procs)
        self.app, self.processes, self.threads = app, processes, threads

    def config(self):
        t = self.procs.path(self.name)
        with open(self.conf, "w") as f:
            f.write(f"""ServerRoot /etc/apache2
ServerName localhost
Listen 127.0.0.1:{self.addr}
PidFile {t}.pid
DefaultRuntimeDir {self.procs.tmp}
ErrorLog {self.error_log}
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule wsgi_module /usr/lib/apache2/modules/mod_wsgi.so
StartServers 1
ServerLimit 4
ThreadsPerChild 64
MaxRequestWorkers 256
LimitRequestBody 0
WSGISocketPrefix {t}-wsgi
WSGIDaemonProcess bench processes={self.processes} threads={self.threads} display-name=%{{GROUP}}
WSGIProcessGroup bench
WSGIScriptAlias / {self.app}
<Directory {os.path.dirname(self.app)}>
  Require all granted
</Directory>
""")

    def argv(self):
        return ["apache2", "-f", self.conf, "-DFOREGROUND"]
