"""Keep-alive connections across graceful replacement (issue 13, item 3).

A frontend that keeps its connections to a pool open (nginx with
`fastcgi_keep_conn on`, the load generator with --keep-alive) sends a request
on an idle connection whenever it likes. A process being replaced must
neither close such a connection under a request on its way to it, nor leave
one it is given unserved. Two stories, each a steady load while the pool's
processes are replaced many times:

  direct   150,000 requests on 64 keep-alive FastCGI connections from
           wsgi-fpm-loadgen to a pool of 2 processes with
           `maximum-requests: 4000`, reloaded beside it every 0.5 s (up to 16
           times): every request answered 200 (the generator counts a
           connection closed under a request as an i/o error). Then 60,000
           with `preload-fork` and `maximum-requests: 2000`; then the same
           connections for 14 s through 50 reloads 0.2 s apart.
  nginx    etc/nginx/wsgi-fpm-fastcgi-keepalive.conf as shipped (upstream
           keepalive, fastcgi_keep_conn on) in front of a pool with
           `maximum-requests: 250`; 12 clients send 24,000 requests, a POST
           (which nginx never retries on another connection) and a GET in
           turn, while the pool is reloaded every 0.5 s (up to 16 times):
           every response a 200 with the right body.

Each load is bounded in count and time; the file takes about a minute.
"""
import sys

sys.dont_write_bytecode = True

import hashlib  # noqa: E402
import http.client as httpclient  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from support.files import Scratch, install_apps  # noqa: E402
from support.frontends import start_frontend  # noqa: E402
from support.paths import LOADGEN  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.supervisor import Supervisor  # noqa: E402
from support.users import FRONTEND_USER, TEST_USER  # noqa: E402


DIRECT_REQUESTS = 150000
DIRECT_CONNECTIONS = 64
DIRECT_MAX_REQUESTS = 4000
NGINX_REQUESTS = 24000
NGINX_CLIENTS = 12
NGINX_MAX_REQUESTS = 250
RELOADS = 16
QUICK_RELOADS = 50
BUDGET = 40  # seconds for each load


def pool_config(scratch, apps, max_requests, threads=4, preload_fork=False):
    config = {
        "runtime-dir": scratch.file("runtime"),
        "log": "stderr",
        "pools": {
            "ka": {"user": TEST_USER, "processes": 2, "threads": threads,
                   "listen": os.path.join(scratch.sub("run"), "ka.sock"),
                   "socket-user": FRONTEND_USER, "home": apps,
                   "maximum-requests": max_requests, "graceful-timeout": 15,
                   "apps": [{"mount": "/", "script": os.path.join(apps, "dispatch.wsgi")}]},
        },
    }
    if preload_fork:
        config["pools"]["ka"]["preload-fork"] = True
        config["pools"]["ka"]["apps"][0]["application-group"] = "%{GLOBAL}"
    return config


class Reloader:
    """Reloads the pool RELOADS times, `every` seconds apart, each time with
    another `threads` (a changed worker command line: every process is
    replaced), from a thread of its own until stopped."""

    def __init__(self, sup, every, count=None):
        self.sup, self.every, self.count = sup, every, count or RELOADS
        self.done, self.errors = 0, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(60)

    def _run(self):
        for i in range(self.count):
            if self._stop.wait(self.every):
                return
            config = json.loads(json.dumps(self.sup.config))
            config["pools"]["ka"]["threads"] = 4 + (i + 1) % 2
            self.sup.rewrite(config)
            r = self.sup.ctl("reload")
            if r.returncode != 0:
                self.errors.append(f"reload {i + 1}: exit {r.returncode}: "
                                   f"{r.stderr.decode(errors='replace').strip()}")
            self.done += 1


def recycles(sup):
    return len(re.findall(r"replacing this process: maximum-requests", sup.stderr()))


def replacements(sup):
    return len(re.findall(r"replacing this process", sup.stderr()))


def start_pool(group_name, max_requests, on_close, preload_fork=False):
    scratch = Scratch(prefix=f"wfpm-ka-{group_name}-")
    apps = install_apps(scratch)
    sup = Supervisor(scratch, pool_config(scratch, apps, max_requests, preload_fork=preload_fork))
    on_close(sup.kill)
    return scratch, sup


def direct_keepalive_through_recycles_and_reloads(requests=DIRECT_REQUESTS, max_requests=DIRECT_MAX_REQUESTS,
                                                  preload_fork=False):
    teardowns = []
    try:
        scratch, sup = start_pool("direct", max_requests, teardowns.append, preload_fork=preload_fork)
        sock = sup.listen_of("ka")
        reloader = Reloader(sup, every=0.5)
        reloader.start()
        started = time.monotonic()
        p = subprocess.run([LOADGEN, sock, "--keep-alive", "--connections", str(DIRECT_CONNECTIONS),
                            "--requests", str(requests), "--duration", str(BUDGET),
                            "--path", "/hello", "--json"],
                           capture_output=True, timeout=BUDGET + 30)
        elapsed = time.monotonic() - started
        reloader.stop()
        if p.returncode != 0 and not p.stdout:
            raise AssertionError(f"loadgen exit {p.returncode}: {p.stderr.decode(errors='replace')}")
        result = json.loads(p.stdout)
        errors = result["errors"]
        done = result.get("requests", result.get("responses"))
        print(f"# direct: {json.dumps(errors)} in {elapsed:.1f}s; {recycles(sup)} maximum-requests "
              f"recycles, {replacements(sup)} replacements, {reloader.done} reloads; "
              f"first errors {result.get('first_errors')}; loadgen {done}", file=sys.stderr)
        if errors["total"] != 0:
            raise AssertionError(f"{errors['total']} of {requests} requests failed "
                                 f"({json.dumps(errors)}; {result.get('first_errors')}) across "
                                 f"{recycles(sup)} recycles and {reloader.done} reloads")
        if reloader.errors:
            raise AssertionError("; ".join(reloader.errors))
        if recycles(sup) < 10:
            raise AssertionError(f"only {recycles(sup)} maximum-requests recycles happened")
        if preload_fork and "template ready" not in sup.stderr():
            raise AssertionError("no template: the pool did not fork its workers")
    finally:
        for t in reversed(teardowns):
            t()


def direct_through_50_quick_reloads():
    """50 reloads 0.2 s apart (every process replaced each time, most before
    they have served long) under 64 keep-alive connections for 14 s."""
    teardowns = []
    try:
        scratch, sup = start_pool("reloads", 0, teardowns.append)
        reloader = Reloader(sup, every=0.2, count=QUICK_RELOADS)
        reloader.start()
        started = time.monotonic()
        p = subprocess.run([LOADGEN, sup.listen_of("ka"), "--keep-alive", "--connections", str(DIRECT_CONNECTIONS),
                            "--duration", "14", "--path", "/hello", "--json"],
                           capture_output=True, timeout=60)
        elapsed = time.monotonic() - started
        reloader.stop()
        result = json.loads(p.stdout)
        errors = result["errors"]
        print(f"# quick reloads: {result['requests']} answered, {json.dumps(errors)} in {elapsed:.1f}s; "
              f"{reloader.done} reloads, {replacements(sup)} replacements; first errors "
              f"{result.get('first_errors')}", file=sys.stderr)
        if errors["total"] != 0:
            raise AssertionError(f"{errors['total']} requests failed ({json.dumps(errors)}; "
                                 f"{result.get('first_errors')}) across {reloader.done} reloads")
        if reloader.errors:
            raise AssertionError("; ".join(reloader.errors))
        if reloader.done < QUICK_RELOADS * 4 // 5:  # a loaded machine reloads more slowly
            raise AssertionError(f"only {reloader.done} of {QUICK_RELOADS} reloads during the load")
    finally:
        for t in reversed(teardowns):
            t()


def direct_with_preload_fork():
    """The same with workers forked from a template, which passes each its
    handoff socket along with its other descriptors."""
    direct_keepalive_through_recycles_and_reloads(60000, 2000, preload_fork=True)


def http_client(port, count, take, results, lock, deadline):
    """A keep-alive HTTP/1.1 client: POST /md5 and GET /hello in turn."""
    conn = None
    body = os.urandom(1024)
    digest = hashlib.md5(body).hexdigest()
    for _ in range(count):
        n = take()
        if n is None:
            break
        if conn is None:
            conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=30)
        post = n % 2 == 0
        try:
            if post:
                conn.request("POST", f"/md5?n={n}", body=body,
                             headers={"Content-Type": "application/octet-stream"})
            else:
                conn.request("GET", f"/hello?n={n}")
            resp = conn.getresponse()
            data = resp.read()
            ok = resp.status == 200 and (json.loads(data).get("md5") == digest if post
                                          else data.startswith(b"Hello"))
            outcome = ("POST" if post else "GET", resp.status if ok else f"{resp.status} {data[:100]!r}")
            if resp.will_close:
                conn.close()
                conn = None
        except Exception as e:  # counted as a failure below
            outcome = ("POST" if post else "GET", f"{type(e).__name__}: {e}")
            conn.close()
            conn = None
        with lock:
            results.append(outcome)
        if time.monotonic() > deadline:
            break
    if conn is not None:
        conn.close()


def nginx_keepalive_posts_through_recycles_and_reloads():
    teardowns = []
    try:
        scratch, sup = start_pool("nginx", NGINX_MAX_REQUESTS, teardowns.append)
        nginx = start_frontend(scratch, "nginx", "wsgi-fpm-fastcgi-keepalive.conf", sup.listen_of("ka"))
        teardowns.append(nginx.kill)
        lock = threading.Lock()
        issued = [0]
        results = []

        def take():
            with lock:
                if issued[0] >= NGINX_REQUESTS:
                    return None
                issued[0] += 1
                return issued[0]

        started = time.monotonic()
        deadline = started + BUDGET
        clients = [threading.Thread(target=http_client,
                                    args=(nginx.port, NGINX_REQUESTS, take, results, lock, deadline),
                                    daemon=True) for _ in range(NGINX_CLIENTS)]
        reloader = Reloader(sup, every=0.5)
        reloader.start()
        for c in clients:
            c.start()
        for c in clients:
            c.join(BUDGET + 40)
        elapsed = time.monotonic() - started
        reloader.stop()
        bad = [r for r in results if r[1] != 200]
        bad_posts = [r for r in bad if r[0] == "POST"]
        print(f"# nginx: {len(results)} requests in {elapsed:.1f}s, {len(bad)} not 200 "
              f"({len(bad_posts)} POSTs); {recycles(sup)} maximum-requests recycles, "
              f"{replacements(sup)} replacements, {reloader.done} reloads", file=sys.stderr)
        if bad:
            sample = "; ".join(f"{m} {s}" for m, s in bad[:5])
            raise AssertionError(f"{len(bad)} of {len(results)} requests failed ({len(bad_posts)} POSTs) "
                                 f"across {recycles(sup)} recycles and {reloader.done} reloads: {sample}\n"
                                 f"--- nginx:\n{nginx.error_tail()}")
        if reloader.errors:
            raise AssertionError("; ".join(reloader.errors))
        if len(results) < NGINX_REQUESTS:
            raise AssertionError(f"only {len(results)} of {NGINX_REQUESTS} requests in {BUDGET}s")
        if recycles(sup) < 10:
            raise AssertionError(f"only {recycles(sup)} maximum-requests recycles happened")
        nginx.stop()
        sup.send(signal.SIGTERM)
        if sup.wait(30) != 0:
            raise AssertionError(f"SIGTERM: wsgi-fpm did not exit 0:\n{sup.stderr_tail()}")
    finally:
        for t in reversed(teardowns):
            t()


def main():
    runner = Runner(budget=300)
    runner.add("keepalive_recycle/direct_64_connections_no_request_lost",
               direct_keepalive_through_recycles_and_reloads)
    runner.add("keepalive_recycle/direct_preload_fork_no_request_lost", direct_with_preload_fork)
    runner.add("keepalive_recycle/direct_50_quick_reloads_no_request_lost", direct_through_50_quick_reloads)
    runner.add("keepalive_recycle/nginx_keepalive_no_post_lost",
               nginx_keepalive_posts_through_recycles_and_reloads)
    runner.main()


if __name__ == "__main__":
    main()
