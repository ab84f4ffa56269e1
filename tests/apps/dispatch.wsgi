# One WSGI app for the integration scenarios, dispatching on PATH_INFO.
#
#   application            the app as is
#   validated_application  the same app inside wsgiref.validate.validator
#                          (serve it with --callable validated_application)
#
# Routes (query parameters in brackets):
#   /hello                       the greeting of etc/examples/hello.wsgi
#   /echo...                     CGI and WSGI variables as JSON
#   /md5                         md5 and length of the request body, read in 64 KiB pieces
#   /stream [n, size]            n pieces (default 100) of size bytes from a generator
#   /close [path]                a body whose close() writes the file at path
#   /raise [msg]                 raises RuntimeError(msg) before start_response
#   /badheader                   a header value with CR/LF in it
#   /errors [msg]                writes msg to wsgi.errors
#   /slow [ms, id, started]      writes the file `started` (if given), sleeps ms, echoes id
#   /write                       a body in three parts: two through write(), one returned
#   /filewrapper [size]          size bytes of PATTERN through wsgi.file_wrapper
#   /excinfo                     start_response twice: 200, then 500 with exc_info
#   /lines                       reads the body by readline(), readline(size) and iteration
#   /spawn [seconds]             starts `sleep seconds` in the background, with this process's
#                                stdout and stderr, and answers its pid
#   anything else                404 with the /echo JSON
import hashlib
import io
import json
import sys
import time
from urllib.parse import parse_qs
from wsgiref.validate import validator

GREETING = b"Hello from wsgi-fpm!\n"
ECHO_KEYS = ("REQUEST_METHOD", "QUERY_STRING", "SCRIPT_NAME", "PATH_INFO", "REQUEST_URI",
             "CONTENT_LENGTH", "CONTENT_TYPE", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
             "REMOTE_ADDR", "HTTP_HOST", "HTTP_X_TEST", "wsgi.url_scheme", "wsgi.multithread",
             "wsgi.multiprocess", "wsgi.run_once", "mod_wsgi.process_group",
             "mod_wsgi.application_group")


def _query(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def _reply(start_response, body, status="200 OK", ctype="text/plain; charset=utf-8"):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def _json(start_response, value, status="200 OK"):
    return _reply(start_response, json.dumps(value).encode(), status, "application/json")


def _echo(environ, start_response, status="200 OK"):
    out = {k: environ[k] for k in ECHO_KEYS if k in environ}
    out["wsgi.version"] = list(environ.get("wsgi.version", ()))
    out["input_type"] = type(environ["wsgi.input"]).__name__  # InputWrapper under the validator
    return _json(start_response, out, status)


def _md5(environ, start_response):
    stream = environ["wsgi.input"]
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    digest = hashlib.md5()
    length = 0
    reads = 0
    while remaining > 0:
        piece = stream.read(min(65536, remaining))
        if not piece:
            break
        digest.update(piece)
        length += len(piece)
        remaining -= len(piece)
        reads += 1
    return _json(start_response, {"md5": digest.hexdigest(), "length": length, "reads": reads})


def _stream(environ, start_response):
    q = _query(environ)
    n, size = int(q.get("n", 100)), int(q.get("size", 1000))
    start_response("200 OK", [("Content-Type", "text/plain")])

    def pieces():
        for i in range(n):
            head = b"%04d:" % i
            yield head + b"x" * (size - len(head) - 1) + b"\n"
    return pieces()


class _ClosingBody:
    """An iterable whose close() leaves a file behind, so the test can see
    that the server called it (PEP 3333: close() is always called)."""

    def __init__(self, path):
        self.path = path

    def __iter__(self):
        yield b"closing body, part 1\n"
        yield b"closing body, part 2\n"

    def close(self):
        with open(self.path, "w") as f:
            f.write("closed\n")


def _close(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return _ClosingBody(_query(environ)["path"])


def _raise(environ, start_response):
    raise RuntimeError(_query(environ).get("msg", "wfpm test exception"))


def _badheader(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("X-Bad", "a\r\nInjected: yes")])
    return [b"this body must not be sent with the bad header\n"]


def _errors(environ, start_response):
    errors = environ["wsgi.errors"]
    errors.write(_query(environ).get("msg", "wfpm test message") + "\n")
    errors.flush()
    return _reply(start_response, b"logged\n")


def _slow(environ, start_response):
    q = _query(environ)
    if "started" in q:
        with open(q["started"], "w") as f:
            f.write("started\n")
    time.sleep(int(q.get("ms", 1000)) / 1000.0)
    return _json(start_response, {"id": q.get("id", ""), "slept_ms": int(q.get("ms", 1000))})


def _write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"part 1 by write()\n")
    write(b"part 2 by write()\n")
    return [b"part 3 returned\n"]


PATTERN = bytes(range(256))


def _filewrapper(environ, start_response):
    size = int(_query(environ).get("size", 5 * 1024 * 1024))
    data = (PATTERN * (size // len(PATTERN) + 1))[:size]
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](io.BytesIO(data), 65536)


def _excinfo(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("changed my mind")
    except ValueError:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                       sys.exc_info())
    return [b"replaced by exc_info\n"]


def _lines(environ, start_response):
    stream = environ["wsgi.input"]
    first = stream.readline()
    second = stream.readline(4)
    rest = [line for line in stream]
    return _json(start_response, {"first": first.decode("latin-1"),
                                  "second": second.decode("latin-1"),
                                  "rest": [line.decode("latin-1") for line in rest]})


def _spawn(environ, start_response):
    import subprocess
    seconds = _query(environ).get("seconds", "60")
    child = subprocess.Popen(["sleep", seconds])  # inherits stdout and stderr
    return _json(start_response, {"pid": child.pid})


ROUTES = {"/hello": lambda e, s: _reply(s, GREETING), "/md5": _md5, "/stream": _stream,
          "/close": _close, "/raise": _raise, "/badheader": _badheader, "/errors": _errors,
          "/slow": _slow, "/write": _write, "/filewrapper": _filewrapper,
          "/excinfo": _excinfo, "/lines": _lines, "/spawn": _spawn}


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/echo"):
        return _echo(environ, start_response)
    handler = ROUTES.get(path)
    if handler is None:
        return _echo(environ, start_response, status="404 Not Found")
    return handler(environ, start_response)


validated_application = validator(application)
