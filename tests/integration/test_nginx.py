"""Requests through a real nginx to `wsgi-fpm serve`, over each way nginx can
reach a pool: fastcgi_pass without keep-alive, fastcgi_pass to a keep-alive
upstream, and scgi_pass. nginx runs the example configs of etc/nginx/ as
shipped, with only the listen address and the socket path replaced.

For each of the three, pools serve tests/apps/dispatch.wsgi as the
unprivileged user wfpm-test (nginx's www-data owns the socket):
  plain        the app itself, --threads 15
  validator    the app inside wsgiref.validate.validator (--callable)
  mounted      the app mounted at /app, with --limit-request-body 1000
  two-threads  (keep-alive only) --threads 2, fewer threads than idle connections
"""
import sys

sys.dont_write_bytecode = True

import functools  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from urllib.parse import quote  # noqa: E402

from support.clients import Response, get, http_request  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.frontends import Nginx, start_frontend  # noqa: E402
from support.runner import Group, Runner  # noqa: E402
from support.supervisor import Serve  # noqa: E402
from support.users import FRONTEND_USER, TEST_USER  # noqa: E402
from support.waiting import wait_for  # noqa: E402

VARIANTS = [  # (name, example config, protocol)
    ("fastcgi", "wsgi-fpm-fastcgi.conf", "fastcgi"),
    ("fastcgi-keepalive", "wsgi-fpm-fastcgi-keepalive.conf", "fastcgi"),
    ("scgi", "wsgi-fpm-scgi.conf", "scgi"),
]
BIG = 10 * 1024 * 1024
CONCURRENT = 200


@functools.cache
def big_body():
    return os.urandom(BIG)


class Stack:
    """One pool behind one nginx, as a user would set them up."""

    def __init__(self, variant, example, protocol, flavour, serve_args, on_close):
        self.variant, self.flavour = variant, flavour
        self.scratch = Scratch(prefix=f"wfpm-nginx-{variant}-{flavour}-")
        self.apps = install_apps(self.scratch)
        self.markers = os.path.join(self.apps, "markers")
        self.serve = Serve(self.scratch, os.path.join(self.apps, "dispatch.wsgi"),
                           name="serve", protocol=protocol,
                           args=["--user", TEST_USER, "--socket-user", FRONTEND_USER,
                                 *(["--threads", "15"] if "--threads" not in serve_args else []),
                                 *serve_args])
        on_close(self.serve.kill)
        self.nginx = start_frontend(self.scratch, "nginx", example, self.serve.socket_path)
        on_close(self.nginx.kill)
        self.port = self.nginx.port

    def get(self, path, **kw):
        return http_request(self.port, path, **kw)

    def fetch(self, method, path, **kw):
        return http_request(self.port, path, method, **kw)

    def explain(self, what):
        """A failure message with the two logs that tell why."""
        return (f"{what}\n--- wsgi-fpm stderr:\n{self.serve.stderr_tail()}"
                f"\n--- nginx error.log:\n{self.nginx.error_tail()}")


def expect_status(stack, resp, status, what):
    if resp.status != status:
        raise AssertionError(stack.explain(f"{what}: expected {status}, got {resp!r}"))


def expect_json(stack, resp, what):
    expect_status(stack, resp, 200, what)
    try:
        return json.loads(resp.body)
    except ValueError:
        raise AssertionError(f"{what}: body is not JSON: {resp.body[:300]!r}")


# --------------------------------------------------------------------------
# The scenarios, each usable on any stack whose app is dispatch.wsgi at /.


def get_with_query_string(stack, prefix=""):
    """GET /echo/x%20y/caf%C3%A9?... : the environ a CGI app would see."""
    cases = [
        # (request path, PATH_INFO, QUERY_STRING)
        ("/echo/x%20y/caf%C3%A9?a=1&b=two%20words", "/echo/x y/caf\u00c3\u00a9",
         "a=1&b=two%20words"),
        ("/echo", "/echo", ""),
        ("/echo/?q=%2F&empty=", "/echo/", "q=%2F&empty="),
    ]
    for i in range(2):  # twice: a keep-alive connection serves the second round
        for path, path_info, query in cases:
            env = expect_json(stack, stack.get(prefix + path), f"GET {prefix + path}")
            want = {"REQUEST_METHOD": "GET", "QUERY_STRING": query, "SCRIPT_NAME": prefix,
                    "PATH_INFO": path_info}
            got = {k: env.get(k) for k in want}
            if got != want:
                raise AssertionError(f"GET {prefix + path} (round {i + 1}): expected {want}, got {got}")


def environ_flags(stack):
    """mod_wsgi's variables: one process (no --processes) and 15 threads."""
    env = expect_json(stack, stack.get("/echo"), "GET /echo")
    want = {"mod_wsgi.process_group": "dispatch", "wsgi.multithread": True,
            "wsgi.multiprocess": False, "wsgi.run_once": False,
            "wsgi.url_scheme": "http", "wsgi.version": [1, 0]}
    got = {k: env.get(k) for k in want}
    if got != want:
        raise AssertionError(f"expected {want}, got {got}")


def post_10mb(stack):
    """A 10 MiB POST arrives whole: the app's md5 equals ours."""
    body = big_body()
    resp = stack.fetch("POST", "/md5", body=body,
                       headers={"Content-Type": "application/octet-stream"}, timeout=60)
    got = expect_json(stack, resp, "POST /md5 (10 MiB)")
    want = {"md5": hashlib.md5(body).hexdigest(), "length": len(body)}
    if {k: got.get(k) for k in want} != want:
        raise AssertionError(f"expected {want}, got {got}")


def streamed_100_chunks(stack):
    """A generator's 100 pieces arrive complete and in order."""
    resp = stack.get("/stream")
    expect_status(stack, resp, 200, "GET /stream")
    want = b"".join(b"%04d:" % i + b"x" * (1000 - 6) + b"\n" for i in range(100))
    if resp.body != want:
        lines = resp.body.split(b"\n")
        raise AssertionError(f"body of {len(resp.body)} bytes, {len(lines) - 1} lines, "
                             f"last {lines[-2][:8] if len(lines) > 1 else b''!r}; "
                             f"expected {len(want)} bytes in 100 lines")


def close_is_called(stack):
    """The server calls close() on the returned iterable (PEP 3333)."""
    marker = os.path.join(stack.markers, f"close-{uuid.uuid4().hex}")
    resp = stack.get("/close?path=" + quote(marker, safe=""))
    expect_status(stack, resp, 200, "GET /close")
    if resp.body != b"closing body, part 1\nclosing body, part 2\n":
        raise AssertionError(f"unexpected body {resp.body!r}")
    wait_for(lambda: os.path.exists(marker), 5, what="the marker file close() writes")


def exception_is_500_with_traceback(stack):
    """An exception: 500, its traceback in wsgi-fpm's stderr, and the pool serves on."""
    token = f"wfpm-boom-{uuid.uuid4().hex}"
    resp = stack.get("/raise?msg=" + token)
    expect_status(stack, resp, 500, "GET /raise")
    if token.encode() in resp.body:
        raise AssertionError("the exception's message leaked into the response body")
    stack.serve.wait_stderr(f"RuntimeError: {token}")
    if "Traceback (most recent call last)" not in stack.serve.stderr():
        raise AssertionError(f"the message but no traceback:\n{stack.serve.stderr_tail()}")
    resp = stack.get("/hello")
    expect_status(stack, resp, 200, "GET /hello after the exception")


def crlf_header_is_500(stack):
    """A header value with CR/LF: 500, and nothing injected."""
    resp = stack.get("/badheader")
    names = [k.lower() for k, _ in resp.headers]
    if "injected" in names or any("Injected" in v for _, v in resp.headers):
        raise AssertionError(f"header injected: {resp.headers}")
    if "x-bad" in names:
        raise AssertionError(f"the bad header was sent: {resp.headers}")
    expect_status(stack, resp, 500, "GET /badheader")


def wsgi_errors_reach_stderr(stack):
    token = f"wfpm-errors-{uuid.uuid4().hex}"
    resp = stack.get("/errors?msg=" + token)
    expect_status(stack, resp, 200, "GET /errors")
    stack.serve.wait_stderr(token)


def concurrent_200(stack, prefix=""):
    """200 requests at once against 15 threads: every one 200, each its own answer."""
    results = [None] * CONCURRENT
    start = threading.Barrier(CONCURRENT, timeout=30)

    def one(i):
        try:
            start.wait()
            results[i] = stack.get(f"{prefix}/slow?ms=50&id={i}", timeout=90)
        except Exception as e:  # recorded and reported below
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(CONCURRENT)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 120
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
    bad = []
    for i, r in enumerate(results):
        if isinstance(r, Response) and r.status == 200:
            try:
                if json.loads(r.body).get("id") == str(i):
                    continue
            except ValueError:
                pass
            bad.append(f"#{i}: wrong body {r.body[:80]!r}")
        else:
            bad.append(f"#{i}: {r!r}")
    if bad:
        statuses = {}
        for r in results:
            key = r.status if isinstance(r, Response) else type(r).__name__
            statuses[key] = statuses.get(key, 0) + 1
        errors = [line.split("] ", 1)[-1] for line in stack.nginx.error_log().splitlines()
                  if "[error]" in line or "[crit]" in line]
        first = errors[0][:160] if errors else bad[0][:160]
        raise AssertionError(stack.explain(f"{len(bad)} of {CONCURRENT} bad "
                                           f"(outcomes {statuses}); first: {first}"))


def write_callable(stack):
    """start_response's write() and the returned iterable make one body, in order."""
    resp = stack.get("/write")
    expect_status(stack, resp, 200, "GET /write")
    want = b"part 1 by write()\npart 2 by write()\npart 3 returned\n"
    if resp.body != want:
        raise AssertionError(f"expected {want!r}, got {resp.body!r}")


def file_wrapper_5mb(stack):
    """5 MiB through wsgi.file_wrapper arrive whole, with the app's Content-Length."""
    size = 5 * 1024 * 1024
    resp = stack.get(f"/filewrapper?size={size}", timeout=60)
    expect_status(stack, resp, 200, "GET /filewrapper")
    pattern = bytes(range(256))
    want = (pattern * (size // 256 + 1))[:size]
    if resp.body != want:
        raise AssertionError(f"got {len(resp.body)} bytes, md5 {hashlib.md5(resp.body).hexdigest()}; "
                             f"expected {size}, md5 {hashlib.md5(want).hexdigest()}")


def exc_info_replaces_status(stack):
    """start_response again with exc_info before any output: the second status wins."""
    resp = stack.get("/excinfo")
    expect_status(stack, resp, 500, "GET /excinfo")
    if resp.body != b"replaced by exc_info\n":
        raise AssertionError(f"expected the app's own 500 body, got {resp.body!r}")


def input_readline_and_iteration(stack):
    """wsgi.input: readline(), readline(size), then iteration to the end of the body."""
    body = b"first line\nsecond line\n" + b"".join(b"line %d\n" % i for i in range(1000)) + b"tail"
    got = expect_json(stack, stack.fetch("POST", "/lines", body=body), "POST /lines")
    rest = [b"nd line\n"] + [b"line %d\n" % i for i in range(1000)] + [b"tail"]
    want = {"first": "first line\n", "second": "seco",
            "rest": [r.decode() for r in rest]}
    if got != want:
        raise AssertionError(f"first {got.get('first')!r}, second {got.get('second')!r}, "
                             f"{len(got.get('rest', []))} more lines ending "
                             f"{got.get('rest', [''])[-2:]!r}; expected {len(want['rest'])} ending "
                             f"{want['rest'][-2:]!r}")


def connected_to(path):
    """Connected (state 03) UNIX sockets whose address is path: the pool's
    side of each open connection, as /proc/net/unix lists them."""
    count = 0
    with open("/proc/net/unix") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if len(fields) >= 8 and fields[7] == path and fields[5] == "03":
                count += 1
    return count


def keepalive_connections_reused(stack):
    """With fastcgi_keep_conn on, the pool keeps the connection open after a
    response (FCGI_KEEP_CONN), so nginx reuses a few instead of one per request."""
    for i in range(20):
        expect_json(stack, stack.get(f"/echo?i={i}"), f"GET /echo?i={i}")
    time.sleep(0.3)
    n = connected_to(stack.serve.socket_path)
    if not 1 <= n <= 8:
        raise AssertionError(f"{n} connections open to the pool after 20 sequential requests; "
                             "expected between 1 and 8 idle keep-alive connections")


def idle_keepalive_connections_do_not_starve(stack):
    """--threads 2 behind keepalive 8: after 8 requests at once, nginx holds 8 idle
    connections to the pool; requests sent on any of them are still served at once."""
    slow = [None] * 8

    def one(i):
        try:
            slow[i] = stack.get(f"/slow?ms=300&id={i}").status
        except Exception as e:  # reported below
            slow[i] = repr(e)
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    if slow != [200] * 8:
        raise AssertionError(stack.explain(f"8 slow requests on 2 threads: {slow}"))
    idle = connected_to(stack.serve.socket_path)
    for i in range(16):
        started = time.monotonic()
        expect_json(stack, stack.get(f"/echo?i={i}", timeout=10), f"GET /echo?i={i}")
        took = time.monotonic() - started
        if took > 2:
            raise AssertionError(f"request {i} took {took:.1f}s with {idle} idle keep-alive "
                                 "connections open: an idle connection holds a thread")


PLAIN_SCENARIOS = [
    ("get_query_string", get_with_query_string),
    ("environ_flags", environ_flags),
    ("post_10mb_md5", post_10mb),
    ("stream_100_chunks", streamed_100_chunks),
    ("close_called", close_is_called),
    ("exception_500_traceback", exception_is_500_with_traceback),
    ("crlf_header_500", crlf_header_is_500),
    ("wsgi_errors_to_stderr", wsgi_errors_reach_stderr),
    ("write_callable", write_callable),
    ("file_wrapper_5mb", file_wrapper_5mb),
    ("exc_info_replaces_status", exc_info_replaces_status),
    ("input_readline_iteration", input_readline_and_iteration),
    ("concurrent_200", concurrent_200),
]

# Everything but the CR/LF header, which wsgiref.validate itself rejects
# with an AssertionError before the server ever sees it.
VALIDATED_SCENARIOS = [(n, f) for n, f in PLAIN_SCENARIOS
                       if n not in ("crlf_header_500", "environ_flags")]
VALIDATOR_COMPLAINTS = ("AssertionError", "WSGIWarning", "garbage collected without being closed")


def all_pass_the_validator(stack):
    """wsgiref.validate around the app: every scenario passes, and the
    validator never complains in the log."""
    env = expect_json(stack, stack.get("/echo"), "GET /echo")
    if env.get("input_type") != "InputWrapper":
        raise AssertionError(f"the app does not run inside the validator (wsgi.input is a "
                             f"{env.get('input_type')}): was --callable ignored?")
    failures = []
    for name, fn in VALIDATED_SCENARIOS:
        try:
            fn(stack)
        except Exception as e:
            failures.append(f"{name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    time.sleep(0.5)  # a late complaint (an unclosed iterator) comes at garbage collection
    text = stack.serve.stderr()
    complaints = [c for c in VALIDATOR_COMPLAINTS if c in text]
    if complaints:
        i = text.index(complaints[0])
        failures.append(f"validator complained ({', '.join(complaints)}): "
                        f"{text[max(0, i - 300):i + 200]!r}")
    if failures:
        raise AssertionError("; ".join(failures))


def mounted_at_app(stack):
    """Mounted at /app, nginx's location / passes everything: the mount splits."""
    get_with_query_string(stack, prefix="/app")
    env = json.loads(stack.get("/app").body or b"{}")
    if (env.get("SCRIPT_NAME"), env.get("PATH_INFO")) != ("/app", ""):
        raise AssertionError(f"GET /app: expected SCRIPT_NAME '/app', PATH_INFO '', got {env}")
    resp = stack.get("/elsewhere")
    if resp.status != 404:
        raise AssertionError(f"GET /elsewhere (outside the mount): expected 404, got {resp!r}")


def limit_request_body(stack):
    """--limit-request-body 1000: 1000 bytes reach the app; 1001 bytes, or 20 MiB,
    get 413 without it."""
    resp = stack.fetch("POST", "/app/md5", body=b"a" * 1000)
    got = expect_json(stack, resp, "POST 1000 bytes")
    if got.get("length") != 1000:
        raise AssertionError(f"POST 1000 bytes: the app read {got}")
    marker = os.path.join(stack.markers, f"limit-{uuid.uuid4().hex}")
    resp = stack.fetch("POST", "/app/slow?ms=0&started=" + quote(marker, safe=""), body=b"a" * 1001)
    expect_status(stack, resp, 413, "POST 1001 bytes")
    if os.path.exists(marker):
        raise AssertionError("the app ran for a body over the limit")
    # An upload far over the limit: still a clean 413, not a broken pipe (502).
    resp = stack.fetch("POST", "/app/md5", body=b"a" * (20 * 1024 * 1024), timeout=60)
    expect_status(stack, resp, 413, "POST 20 MiB")
    # The connection (kept alive or not) is still good for the next request.
    expect_json(stack, stack.fetch("POST", "/app/md5", body=b"b" * 10), "POST after a 413")


def graceful_stop(group):
    """nginx stops, then SIGTERM to serve: exit status 0 and the socket gone."""
    try:
        stack = group.get()
        stack.nginx.stop()
        rc = stack.serve.stop()
        if rc != 0:
            raise AssertionError(f"serve exited with {rc} on SIGTERM:\n{stack.serve.stderr_tail()}")
        if os.path.exists(stack.serve.socket_path):
            raise AssertionError(f"{stack.serve.socket_path} is still there after serve exited")
    finally:
        group.close()


# --------------------------------------------------------------------------


def nginx_serves_a_static_file():
    """The test support itself: a throw-away nginx serves a file from its temp config."""
    scratch = Scratch(prefix="wfpm-nginx-static-")
    root = scratch.sub("html")
    with open(os.path.join(root, "index.txt"), "w") as f:
        f.write("static hello\n")
    site = f"server {{\n    listen 127.0.0.1:{{port}};\n    root {root};\n}}\n"
    nginx = Nginx(scratch, site)
    resp = get(nginx.port, "/index.txt")
    if (resp.status, resp.body) != (200, b"static hello\n"):
        raise AssertionError(f"expected the file, got {resp!r}\n{nginx.error_tail()}")
    if nginx.stop() != 0:
        raise AssertionError("nginx did not exit cleanly on SIGQUIT")


def stacks():
    """(variant, flavour, serve's extra arguments, scenarios) for every pool."""
    for variant, example, protocol in VARIANTS:
        keepalive = variant == "fastcgi-keepalive"
        plain = PLAIN_SCENARIOS + ([("connections_reused", keepalive_connections_reused)]
                                   if keepalive else [])
        yield variant, example, protocol, "plain", [], plain
        yield (variant, example, protocol, "validator", ["--callable", "validated_application"],
               [("all_pass_validator", all_pass_the_validator)])
        yield (variant, example, protocol, "mounted",
               ["--mount", "/app", "--limit-request-body", "1000"],
               [("mount_splits_path", mounted_at_app),
                ("limit_request_body_413", limit_request_body)])
        if keepalive:
            yield (variant, example, protocol, "two-threads", ["--threads", "2"],
                   [("idle_connections_do_not_starve", idle_keepalive_connections_do_not_starve)])


def main():
    runner = Runner(budget=560)
    runner.add("harness/nginx_serves_static_file", nginx_serves_a_static_file)
    for variant, example, protocol, flavour, args, scenarios in stacks():
        group = Group(lambda on_close, v=variant, e=example, p=protocol, f=flavour, a=args:
                      Stack(v, e, p, f, a, on_close))
        for name, fn in scenarios:
            runner.add(f"{variant}/{flavour}/{name}", lambda g=group, fn=fn: fn(g.get()))
        runner.add(f"{variant}/{flavour}/graceful_stop", lambda g=group: graceful_stop(g))
    runner.main()


if __name__ == "__main__":
    main()
