"""A throw-away frontend in front of a pool: nginx, Apache or lighttpd on
127.0.0.1:FREEPORT, running an example of etc/nginx, etc/apache or
etc/lighttpd as shipped (only its address, socket and document root
replaced), with its own config, logs, pid and temp files under SCRATCH/NAME;
stopped by pid, never the system's. Workers run as www-data.

    f = start_frontend(scratch, "nginx", "wsgi-fpm-fastcgi.conf", sup.listen_of("p"))
    get(f.port, "/"); f.error_tail()

Each kind is a Frontend built from a site's text, where `{port}` and
`{htdocs}` stand for its port and document root (test_nginx gives nginx a
site of its own that way)."""
import os
import shutil
import signal
import subprocess

from .paths import ETC
from .processes import Proc
from .sockets import free_port, wait_tcp_port
from .users import FRONTEND_USER, chown_tree

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


def site_from_example(frontend, example, socket_path):
    """A site for Frontend of kind `frontend`: etc/FRONTEND/EXAMPLE, as
    shipped, with only its address, socket and document root replaced. For
    nginx, `listen 80;` becomes `listen 127.0.0.1:{port};` (IPv6 listens
    go); for Apache, `<VirtualHost *:80>` becomes 127.0.0.1:{port} and
    /var/www/html {htdocs}; lighttpd's examples name no address."""
    if frontend == "nginx":
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
        if EXAMPLE_SOCKET not in text:
            raise AssertionError(f"{example} has no {EXAMPLE_SOCKET} to substitute")
        return text.replace(EXAMPLE_SOCKET, socket_path)
    if frontend == "apache":
        return example_with("apache", example, socket_path,
                            [("<VirtualHost *:80>", "<VirtualHost 127.0.0.1:{port}>"),
                             (EXAMPLE_DOCROOT, "{htdocs}")])
    if frontend == "lighttpd":
        return example_with("lighttpd", example, socket_path)
    raise ValueError(f"unknown frontend {frontend}")


class Frontend(Proc):
    """A frontend of one of the kinds below on 127.0.0.1:port serving `site`
    (included from PREFIX/site.conf by PREFIX/MAIN_NAME); the config is
    checked first, then the frontend runs in the foreground until it listens."""

    kind = None          # "nginx", "apache", "lighttpd"
    program = None       # its executable
    main_name = None     # the main config's file name under PREFIX
    main_config = None   # its text, formatted with prefix, port, user

    def __init__(self, scratch, site, name=None, port=None):
        name = name or self.kind
        self.port = port or free_port()
        self.prefix = scratch.sub(name)
        for d in ("htdocs", "tmp", "run"):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        site = site.replace("{port}", str(self.port)).replace("{htdocs}", os.path.join(self.prefix, "htdocs"))
        with open(os.path.join(self.prefix, "site.conf"), "w") as f:
            f.write(site)
        self.conf = os.path.join(self.prefix, self.main_name)
        with open(self.conf, "w") as f:
            f.write(self.main_config.format(prefix=self.prefix, port=self.port, user=FRONTEND_USER))
        self.prepare()
        check = self.check_argv()
        test = subprocess.run(check, capture_output=True, text=True, timeout=30)
        if test.returncode != 0:
            raise AssertionError(f"{os.path.basename(check[0])} {check[1]} refused the config:\n"
                                 f"{test.stdout}{test.stderr}\n--- site.conf:\n{site}")
        super().__init__(self.run_argv(), name, scratch)
        wait_tcp_port(self.port, self)

    def prepare(self):
        """What the kind needs under PREFIX before its config is checked."""

    def check_argv(self):
        raise NotImplementedError

    def run_argv(self):
        raise NotImplementedError

    def error_log(self):
        try:
            with open(os.path.join(self.prefix, "error.log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def error_tail(self, lines=15):
        return "\n".join(self.error_log().splitlines()[-lines:])


class Nginx(Frontend):
    """A real nginx (master + one www-data worker), `nginx -p PREFIX/ -c
    PREFIX/nginx.conf -g 'daemon off;'`; stopped gracefully by SIGQUIT."""

    kind = "nginx"
    program = "/usr/sbin/nginx"
    main_name = "nginx.conf"
    main_config = """\
# Written by tests/integration/support/frontends.py; everything lives under {prefix}.
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

    def prepare(self):
        for params in ("fastcgi_params", "scgi_params", "mime.types"):
            shutil.copy(os.path.join("/etc/nginx", params), self.prefix)

    def _argv(self, *args):
        return [self.program, *args, "-p", self.prefix + "/", "-c", self.conf,
                "-e", os.path.join(self.prefix, "error.log")]

    def check_argv(self):
        return self._argv("-t")

    def run_argv(self):
        return self._argv() + ["-g", "daemon off;"]

    def stop(self, sig=signal.SIGQUIT, timeout=15):
        return super().stop(sig, timeout)


class Apache(Frontend):
    """A real Apache 2.4 (event MPM, children as www-data): `apache2 -f
    PREFIX/apache2.conf -DFOREGROUND`. Apache's ServerRoot, pid, logs and
    runtime files are all under PREFIX."""

    kind = "apache"
    program = "/usr/sbin/apache2"
    modules = "/usr/lib/apache2/modules"
    main_name = "apache2.conf"
    main_config = """\
# Written by tests/integration/support/frontends.py; everything lives under {prefix}.
ServerRoot {prefix}
DefaultRuntimeDir {prefix}/run
PidFile {prefix}/apache2.pid
ErrorLog {prefix}/error.log
LogLevel warn
Listen 127.0.0.1:{port}
ServerName localhost
User {user}
Group {user}
LoadModule mpm_event_module MODULES/mod_mpm_event.so
LoadModule authz_core_module MODULES/mod_authz_core.so
LoadModule proxy_module MODULES/mod_proxy.so
LoadModule proxy_fcgi_module MODULES/mod_proxy_fcgi.so
LoadModule proxy_scgi_module MODULES/mod_proxy_scgi.so
StartServers 1
ServerLimit 2
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 8
MaxSpareThreads 64
LogFormat "%h %l %u %t \\"%r\\" %>s %b" common
CustomLog {prefix}/access.log common
Include {prefix}/site.conf
""".replace("MODULES", modules)

    def check_argv(self):
        return [self.program, "-t", "-f", self.conf]

    def run_argv(self):
        return [self.program, "-f", self.conf, "-DFOREGROUND"]


class Lighttpd(Frontend):
    """A real lighttpd (one process, www-data after start): `lighttpd -D -f
    PREFIX/lighttpd.conf`. PREFIX belongs to www-data: lighttpd opens its
    logs after dropping root."""

    kind = "lighttpd"
    program = "/usr/sbin/lighttpd"
    main_name = "lighttpd.conf"
    main_config = """\
# Written by tests/integration/support/frontends.py; everything lives under {prefix}.
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

    def prepare(self):
        chown_tree(self.prefix, FRONTEND_USER)

    def check_argv(self):
        return [self.program, "-tt", "-f", self.conf]

    def run_argv(self):
        return [self.program, "-D", "-f", self.conf]


KINDS = {kind.kind: kind for kind in (Nginx, Apache, Lighttpd)}


def start_frontend(scratch, frontend, example, socket_path, name=None):
    """nginx, apache or lighttpd running etc/FRONTEND/EXAMPLE in front of the
    pool socket socket_path, under SCRATCH/NAME (by default FRONTEND-EXAMPLE
    without its extension); it has .port, .error_log(), .error_tail(), .stop() and .kill()."""
    if frontend not in KINDS:
        raise ValueError(f"unknown frontend {frontend}")
    name = name or f"{frontend}-{os.path.splitext(example)[0]}"
    return KINDS[frontend](scratch, site_from_example(frontend, example, socket_path), name=name)
