"""The benchmark's load generator (bench/loadgen.cc) counts what it claims to
count. Its figures are only worth what its bookkeeping is, so each check runs
it against a server whose behaviour is known request by request: the libfcgi
C responder, `wsgi-fpm serve` with the echo app, and a scripted FastCGI server
in this file that counts connections and misbehaves on purpose.

Nothing here asserts a speed: only counts, bytes, and that the percentiles are
ordered.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402

from support.clients import fcgi_record  # noqa: E402
from support.files import Scratch, install_apps  # noqa: E402
from support.paths import FCGI_RESPONDER, LOADGEN, SOURCE  # noqa: E402
from support.processes import Proc  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.sockets import wait_unix_socket  # noqa: E402
from support.supervisor import Serve  # noqa: E402
from support.users import TEST_USER, chown_tree  # noqa: E402

BENCH_APPS = os.path.join(SOURCE, "bench", "apps")

HELLO = b"Hello, world!\n"


def loadgen(*args, timeout=60):
    """Runs the generator to completion: (exit status, stdout, stderr)."""
    p = subprocess.run([LOADGEN, *args], capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def loadgen_json(*args):
    rc, out, err = loadgen(*args, "--json")
    if rc != 0:
        raise AssertionError(f"loadgen {' '.join(args)} exited {rc}:\n{err}")
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError(f"loadgen printed no JSON object: {out!r}\n{err}") from None


def expect(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: expected {want!r}, got {got!r}")


def percentiles_ordered(result):
    lat = result["latency_us"]
    chain = [lat[k] for k in ("min", "p50", "p90", "p99", "p99_9", "max")]
    if chain != sorted(chain) or chain[0] <= 0:
        raise AssertionError(f"latencies not ordered min <= p50 <= ... <= max, all > 0: {lat}")


# --------------------------------------------------------------------------
# Servers


class Responder(Proc):
    """bench/fcgi_responder.c: libfcgi, hello world from THREADS threads."""

    def __init__(self, scratch, threads=4):
        self.socket_path = scratch.file("responder.sock")
        super().__init__([FCGI_RESPONDER, self.socket_path, str(threads)], "responder", scratch)
        wait_unix_socket(self.socket_path, self)


class ScriptedServer:
    """A FastCGI server on a UNIX socket, one connection at a time, that counts
    connections and requests and answers request number n (0 is the
    generator's probe) as behaviour(n) says:
      "ok"        Status 200, hello world
      "503"       a complete response with Status 503
      "close"     closes the connection without a byte of answer
      "garbage"   answers with a record whose version is 9
    It honours FCGI_KEEP_CONN, so a connection serves requests until the
    client asks for it to end or closes it."""

    def __init__(self, scratch, behaviour=lambda n: "ok"):
        self.socket_path = scratch.file("scripted.sock")
        self.behaviour = behaviour
        self.connections = 0
        self.requests = 0
        self.keep_conn_requests = 0
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.socket_path)
        self.listener.listen(64)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stopping = True
        try:
            # Wake the accept() with a connection of our own, then close.
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(self.socket_path)
        except OSError:
            pass
        self.thread.join(10)
        self.listener.close()

    def _serve(self):
        while not self.stopping:
            conn, _ = self.listener.accept()
            if self.stopping:
                conn.close()
                return
            self.connections += 1
            with conn:
                conn.settimeout(10)
                try:
                    self._connection(conn)
                except (OSError, ConnectionError):
                    pass  # the client went away: next connection

    def _connection(self, conn):
        buf = bytearray()

        def record():
            while True:
                if len(buf) >= 8:
                    _, rtype, rid, clen, plen = struct.unpack("!BBHHB", bytes(buf[:7]))
                    if len(buf) >= 8 + clen + plen:
                        content = bytes(buf[8:8 + clen])
                        del buf[:8 + clen + plen]
                        return rtype, rid, content
                chunk = conn.recv(65536)
                if not chunk:
                    return None
                buf.extend(chunk)

        while True:
            begin = record()
            if begin is None:
                return
            rtype, rid, content = begin
            if rtype != 1:
                raise AssertionError(f"expected FCGI_BEGIN_REQUEST, got record type {rtype}")
            keep_conn = content[2] & 1
            while True:  # params, then stdin up to its empty record
                r = record()
                if r is None:
                    return
                if r[0] == 5 and not r[2]:
                    break
            n = self.requests
            self.requests += 1
            self.keep_conn_requests += 1 if keep_conn else 0
            what = self.behaviour(n)
            if what == "close":
                return
            if what == "garbage":
                conn.sendall(struct.pack("!BBHHBx", 9, 6, rid, 4, 0) + b"oops")
                return
            status = b"503 Service Unavailable" if what == "503" else b"200 OK"
            out = b"Status: " + status + b"\r\nContent-Type: text/plain\r\n\r\n" + HELLO
            conn.sendall(fcgi_record(6, out, rid) + fcgi_record(6, b"", rid)
                         + fcgi_record(3, struct.pack("!IB3x", 0, 0), rid))
            if not keep_conn:
                return


# --------------------------------------------------------------------------
# Tests


def counts_exactly_the_requests_asked(scratch):
    """--requests N: N responses, N × 14 body bytes, every one a 200, every
    percentile ordered; with two threads the shares add up to N."""
    responder = Responder(scratch)
    try:
        for threads in ("1", "2"):
            r = loadgen_json(responder.socket_path, "--requests", "3000", "--connections", "8",
                             "--threads", threads)
            expect(f"threads ({threads})", r["threads"], int(threads))
            expect(f"requests ({threads} threads)", r["requests"], 3000)
            expect(f"ok ({threads} threads)", r["ok"], 3000)
            expect(f"statuses ({threads} threads)", r["statuses"], {"200": 3000})
            expect(f"body bytes ({threads} threads)", r["body_bytes"], 3000 * len(HELLO))
            expect(f"errors ({threads} threads)", r["errors"]["total"], 0)
            expect(f"in flight at the end ({threads} threads)", r["in_flight_at_end"], 0)
            percentiles_ordered(r)
    finally:
        responder.stop()


def keep_alive_reuses_connections(scratch):
    """Without --keep-alive every request opens a connection (as nginx does by
    default); with it, C connections carry all the requests, each asking the
    server to keep the connection (FCGI_KEEP_CONN)."""
    server = ScriptedServer(scratch)
    try:
        r = loadgen_json(server.socket_path, "--requests", "200", "--connections", "4")
        expect("requests, connection per request", r["requests"], 200)
        expect("connections the server saw (probe + one per request)", server.connections, 201)
        expect("requests asking to keep the connection", server.keep_conn_requests, 0)

        server.connections = server.requests = 0
        r = loadgen_json(server.socket_path, "--requests", "200", "--connections", "4", "--keep-alive")
        expect("keep_alive in the report", r["keep_alive"], True)
        expect("requests, keep-alive", r["requests"], 200)
        expect("errors, keep-alive", r["errors"]["total"], 0)
        expect("connections the server saw (probe + 4)", server.connections, 5)
        expect("requests asking to keep the connection", server.keep_conn_requests, 200)
    finally:
        server.close()


def counts_each_kind_of_error(scratch):
    """A server that, after the probe, cycles through a good answer, a 503, a
    connection closed without an answer and a malformed record: a hundred of
    each in 400 requests, each counted under its own name and none twice."""
    kinds = ["ok", "503", "close", "garbage"]
    server = ScriptedServer(scratch, lambda n: "ok" if n == 0 else kinds[(n - 1) % 4])
    try:
        r = loadgen_json(server.socket_path, "--requests", "400", "--connections", "1")
        expect("responses (200s and 503s)", r["requests"], 200)
        expect("ok", r["ok"], 100)
        expect("statuses", r["statuses"], {"200": 100, "503": 100})
        expect("errors", r["errors"], {"total": 300, "connect": 0, "io": 100, "protocol": 100,
                                       "status": 100})
        expect("requests the server answered or refused (probe + 400)", server.requests, 401)
        if len(r["first_errors"]) != 2:
            raise AssertionError(f"expected the first i/o and protocol errors described: {r['first_errors']}")
    finally:
        server.close()


def echo_bodies_over_both_protocols(scratch):
    """--body-size: the body goes out whole over FastCGI and SCGI, and wsgi-fpm's
    echo app sends it back, byte for byte counted."""
    apps = install_apps(scratch)
    echo = os.path.join(apps, "echo.wsgi")
    shutil.copy(os.path.join(BENCH_APPS, "echo.wsgi"), echo)
    chown_tree(apps, TEST_USER)
    size = 300_000
    for protocol in ("fastcgi", "scgi"):
        serve = Serve(scratch, echo, name=f"echo-{protocol}", protocol=protocol,
                      args=["--processes", "1", "--threads", "4"])
        try:
            r = loadgen_json(serve.socket_path, "--protocol", protocol, "--requests", "40",
                             "--connections", "4", "--body-size", str(size))
            expect(f"{protocol}: method", r["method"], "POST")
            expect(f"{protocol}: requests", r["requests"], 40)
            expect(f"{protocol}: ok", r["ok"], 40)
            expect(f"{protocol}: body bytes echoed", r["body_bytes"], 40 * size)
            expect(f"{protocol}: errors", r["errors"]["total"], 0)
        finally:
            serve.stop()


def measures_for_the_duration_asked(scratch):
    """--duration with --warmup: the measured interval is the one asked for
    (warm-up excluded), and requests did flow in it."""
    responder = Responder(scratch, threads=2)
    try:
        r = loadgen_json(responder.socket_path, "--duration", "1", "--warmup", "0.5", "--connections", "2")
        if not 0.95 <= r["duration"] < 5:
            raise AssertionError(f"asked to measure 1 s, measured {r['duration']} s")
        if r["requests"] < 1 or r["errors"]["total"] != 0:
            raise AssertionError(f"expected requests and no errors: {r}")
        percentiles_ordered(r)
    finally:
        responder.stop()


def print_response_shows_the_answer(scratch):
    responder = Responder(scratch, threads=1)
    try:
        rc, out, err = loadgen(responder.socket_path, "--print-response")
        expect("exit status of --print-response", rc, 0)
        if "Status: 200 OK" not in out or not out.endswith(HELLO.decode()):
            raise AssertionError(f"--print-response printed {out!r} ({err})")
    finally:
        responder.stop()


def says_what_is_wrong(scratch):
    """Bad options exit 2 naming the option; a server that is not there fails
    the probe (exit 1) with the address and the system's reason."""
    cases = [
        (["--protocol", "http", "/x.sock"], 2, "--protocol: expected fastcgi or scgi, got 'http'"),
        (["--connections", "0", "/x.sock"], 2, "--connections must be at least 1"),
        (["--requests", "ten", "/x.sock"], 2, "--requests: not a non-negative number: 'ten'"),
        (["--path", "x", "/x.sock"], 2, "--path must start with /"),
        (["--bogus", "/x.sock"], 2, "unknown option --bogus"),
        ([], 2, "no address given"),
        ([scratch.file("nobody-here.sock"), "--requests", "1"], 1, "probe request failed"),
    ]
    for args, want_rc, want in cases:
        rc, _, err = loadgen(*args)
        if rc != want_rc or want not in err:
            raise AssertionError(f"loadgen {args}: expected exit {want_rc} and {want!r}, got {rc}: {err!r}")
    _, _, err = loadgen(scratch.file("nobody-here.sock"), "--requests", "1")
    if "No such file or directory" not in err and "ENOENT" not in err:
        raise AssertionError(f"the probe's failure does not say why: {err!r}")


def main():
    runner = Runner(budget=300)
    scratch = Scratch(prefix="wfpm-loadgen-")
    runner.add("loadgen/counts_exactly_the_requests_asked", counts_exactly_the_requests_asked, scratch)
    runner.add("loadgen/keep_alive_reuses_connections", keep_alive_reuses_connections,
               Scratch(prefix="wfpm-loadgen-ka-"))
    runner.add("loadgen/counts_each_kind_of_error", counts_each_kind_of_error,
               Scratch(prefix="wfpm-loadgen-err-"))
    runner.add("loadgen/echo_bodies_over_both_protocols", echo_bodies_over_both_protocols, scratch)
    runner.add("loadgen/measures_for_the_duration_asked", measures_for_the_duration_asked, scratch)
    runner.add("loadgen/print_response_shows_the_answer", print_response_shows_the_answer, scratch)
    runner.add("loadgen/says_what_is_wrong", says_what_is_wrong, scratch)
    runner.main()


if __name__ == "__main__":
    main()
