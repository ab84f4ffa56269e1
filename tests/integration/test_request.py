"""`wsgi-fpm request`, the diagnosis client, against pools that `wsgi-fpm serve`
runs: FastCGI and SCGI, on UNIX sockets (`unix:/path` and a bare path) and on
loopback TCP. It prints the raw CGI response: the Status line, headers, a
blank line and the body.
"""
import sys

sys.dont_write_bytecode = True

import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

from support.clients import cli_request  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.paths import ETC  # noqa: E402
from support.runner import Group, Runner  # noqa: E402
from support.sockets import free_port  # noqa: E402
from support.supervisor import Serve  # noqa: E402
from support.users import FRONTEND_USER  # noqa: E402

GREETING = b"Hello from wsgi-fpm!\n"


def hello_pool(on_close, protocol, listen=None, name="hello"):
    """etc/examples/hello.wsgi, owned by the test user, served by `wsgi-fpm serve`."""
    scratch = Scratch(prefix=f"wfpm-request-{name}-")
    apps = install_apps(scratch, extra=[os.path.join(ETC, "examples", "hello.wsgi")])
    # socket-user means something for a UNIX socket only (serve refuses it for TCP).
    unix = listen is None or listen.startswith(("/", "unix:"))
    serve = Serve(scratch, os.path.join(apps, "hello.wsgi"), name=name, protocol=protocol,
                  listen=listen, args=["--socket-user", FRONTEND_USER] if unix else [])
    on_close(serve.kill)
    return serve


def greets(group, addr_of, protocol):
    serve = group.get()
    status, headers, body = cli_request(addr_of(serve), "/", "--protocol", protocol)
    if (status, body) != (200, GREETING):
        raise AssertionError(f"expected 200 and {GREETING!r}, got {status} {body!r}\n"
                             f"{serve.stderr_tail()}")
    if not headers.get("content-type", "").startswith("text/plain"):
        raise AssertionError(f"Content-Type {headers.get('content-type')!r}")


def post_and_headers(group, protocol):
    """--method, --data @FILE and --header reach the app as a frontend's would."""
    serve = group.get()
    addr = f"unix:{serve.socket_path}"
    data = os.urandom(300 * 1024)
    path = os.path.join(os.path.dirname(serve.stderr_path), "body.bin")
    with open(path, "wb") as f:
        f.write(data)
    status, _, body = cli_request(addr, "/md5", "--protocol", protocol, "--method", "POST",
                              "--data", "@" + path)
    got = json.loads(body) if status == 200 else {"status": status, "body": body[:200]}
    want = {"md5": hashlib.md5(data).hexdigest(), "length": len(data)}
    if {k: got.get(k) for k in want} != want:
        raise AssertionError(f"POST /md5: expected {want}, got {got}")
    status, _, body = cli_request(addr, "/echo/here?x=1", "--protocol", protocol,
                              "--header", "X-Test: seen")
    env = json.loads(body) if status == 200 else {}
    want = {"REQUEST_METHOD": "GET", "PATH_INFO": "/echo/here", "QUERY_STRING": "x=1",
            "SCRIPT_NAME": "", "HTTP_X_TEST": "seen"}
    got = {k: env.get(k) for k in want}
    if got != want:
        raise AssertionError(f"GET /echo/here: expected {want}, got {got} (status {status})")


def stop(group):
    try:
        serve = group.get()
        rc = serve.stop()
        if rc != 0:
            raise AssertionError(f"serve exited with {rc} on SIGTERM:\n{serve.stderr_tail()}")
        if serve.socket_path and os.path.exists(serve.socket_path):
            raise AssertionError(f"{serve.socket_path} left behind")
    finally:
        group.close()


def dispatch_pool(on_close, protocol):
    scratch = Scratch(prefix=f"wfpm-request-dispatch-{protocol}-")
    apps = install_apps(scratch)
    serve = Serve(scratch, os.path.join(apps, "dispatch.wsgi"), name="dispatch",
                  protocol=protocol, args=["--socket-user", FRONTEND_USER])
    on_close(serve.kill)
    return serve


def main():
    runner = Runner(budget=500)
    tcp_port = free_port()
    pools = [
        # (test name, protocol, listen (None: unix:SCRATCH/run/NAME.sock), address for the CLI)
        ("fastcgi_unix_socket", "fastcgi", None, lambda s: f"unix:{s.socket_path}"),
        ("scgi_unix_socket", "scgi", None, lambda s: f"unix:{s.socket_path}"),
        ("scgi_bare_path", "scgi", "BARE", lambda s: s.socket_path),
        ("fastcgi_tcp_loopback", "fastcgi", f"127.0.0.1:{tcp_port}", lambda s: s.listen),
    ]
    for name, protocol, listen, addr_of in pools:
        def setup(on_close, protocol=protocol, listen=listen, name=name):
            if listen == "BARE":  # an absolute path without the unix: prefix
                scratch = Scratch(prefix="wfpm-request-bare-")
                listen = os.path.join(scratch.sub("run"), "bare.sock")
            return hello_pool(on_close, protocol, listen, name)
        group = Group(setup)
        runner.add(f"request/{name}/greeting", lambda g=group, a=addr_of, p=protocol: greets(g, a, p))
        runner.add(f"request/{name}/graceful_stop", lambda g=group: stop(g))
    for protocol in ("fastcgi", "scgi"):
        group = Group(lambda on_close, p=protocol: dispatch_pool(on_close, p))
        runner.add(f"request/{protocol}/post_data_file_and_header",
                   lambda g=group, p=protocol: post_and_headers(g, p))
        runner.add(f"request/{protocol}/dispatch_graceful_stop", lambda g=group: stop(g))
    runner.main()


if __name__ == "__main__":
    main()
