"""Clients, one request each on a fresh connection: HTTP to a frontend on
127.0.0.1:PORT, FastCGI to a pool's socket (telling a refused connection
from one that a dying worker closed, which the CLI would not), and
`wsgi-fpm request`, the diagnosis client, whose output split_response reads."""
import json
import re
import socket
import struct
import time

from .supervisor import wsgi_fpm


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


# --------------------------------------------------------------------------
# HTTP


def http_request(port, target, method="GET", body=None, headers=None, chunked=False, timeout=30):
    """One HTTP/1.1 request to 127.0.0.1:port (Connection: close), the
    response read to the end. The request target is sent byte for byte (a
    str as UTF-8), so raw non-ASCII, `%2F`, `//` and `..` reach the server as
    written; http.client refuses or alters some of them. A body goes with
    Content-Length or, with chunked=True, in three chunks. `headers` (a dict)
    may replace Host. Returns a Response, its body de-chunked."""
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


def get(port, target, **kw):
    """http_request(port, target, "GET", ...)."""
    return http_request(port, target, "GET", **kw)


def _dechunk(data):
    out = bytearray()
    pos = 0
    for _ in range(len(data) + 1):
        end = data.find(b"\r\n", pos)
        if end < 0:
            break
        size = int(data[pos:end].split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out += data[end + 2:end + 2 + size]
        pos = end + 2 + size + 2
    return bytes(out)


# --------------------------------------------------------------------------
# FastCGI


class FcgiClosed(Exception):
    """The connection was closed (or reset) before the whole response came."""


class FcgiConnectError(Exception):
    """connect() itself failed."""


def fcgi_record(rtype, content, request_id=1):
    """One FastCGI record (version 1, no padding)."""
    return struct.pack("!BBHHBx", 1, rtype, request_id, len(content), 0) + content


def fcgi_pair(name, value):
    """One FastCGI name-value pair (bytes), lengths in 1 or 4 bytes."""
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
        pairs = b"".join(fcgi_pair(k.encode(), v.encode("latin-1")) for k, v in p.items())
        out = fcgi_record(1, struct.pack("!HB5x", 1, 0))  # BEGIN_REQUEST, responder, no keep-conn
        out += fcgi_record(4, pairs) + fcgi_record(4, b"")
        for i in range(0, len(body), 65535):
            out += fcgi_record(5, body[i:i + 65535])
        out += fcgi_record(5, b"")
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
# `wsgi-fpm request`


def split_response(out):
    """(status code, {lower-case header: value}, body) of the CLI's output."""
    m = re.search(rb"\r?\n\r?\n", out)
    if not m:
        raise AssertionError(f"no blank line after the headers in {out[:300]!r}")
    head, body = out[:m.start()], out[m.end():]
    lines = re.split(rb"\r?\n", head)
    headers = {}
    for line in lines:
        name, sep, value = line.partition(b":")
        if sep:
            headers[name.strip().lower().decode()] = value.strip().decode("latin-1")
    status = headers.get("status", "")
    if not re.match(r"^\d{3}( |$)", status):
        raise AssertionError(f"no Status line in {head[:300]!r}")
    return int(status[:3]), headers, body


def cli_request(addr, *args):
    """`wsgi-fpm request ADDR ARGS`, which must exit 0: split_response of its output."""
    r = wsgi_fpm("request", addr, *args)
    if r.returncode != 0:
        raise AssertionError(f"wsgi-fpm request {addr} {' '.join(args)} exited "
                             f"{r.returncode}: {r.stderr.decode(errors='replace')[-500:]}")
    return split_response(r.stdout)


# --------------------------------------------------------------------------
# A supervisor's pools, on their own sockets


def proc_get(sup, pool, uri="/proc/", **kw):
    """GET on a pool's own socket (FastCGI, or SCGI through the CLI): (status, JSON)."""
    listen = sup.listen_of(pool)
    if sup.pools()[pool].get("protocol") == "scgi":
        r = wsgi_fpm("request", listen, uri, "--protocol", "scgi")
        if r.returncode != 0:
            raise AssertionError(f"wsgi-fpm request {listen} {uri}: exit {r.returncode}: "
                                 f"{r.stderr.decode(errors='replace').strip()}")
        status, _, body = split_response(r.stdout)
    else:
        resp = fcgi_request(listen, uri, **kw)
        status, body = resp.status, resp.body
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"body": body[:300].decode("latin-1")}


def serving_pid(sup, pool, uri="/", timeout=30):
    """The pid that served a FastCGI GET on the pool (procinfo.wsgi answers it), which must be 200."""
    resp = fcgi_request(sup.listen_of(pool), uri, timeout=timeout)
    if resp.status != 200:
        raise AssertionError(f"{pool} {uri}: {resp.status} {resp.body[:200]!r}")
    return json.loads(resp.body)["pid"]
