# An application that looks at, and tampers with, the descriptors of the
# worker that runs it: for tests/integration/test_worker_contract.py.
#
#   /fds               JSON: pid and each open descriptor -> its /proc link,
#                      and "readable": the descriptors through which the
#                      first bytes of a regular file could be read, with them
#   /close?fd=N        os.close(N), as a careless app does with "fd 3"
#   /close-listening   closes every listening socket the process has (where
#                      ever the worker keeps its own), as a blanket
#                      os.closerange() would
#   /close-notify      closes every pipe and unnamed UNIX socket above 2: the
#                      worker's notify channel (a pipe, or a socketpair that
#                      libuv made; accepted connections are named by the
#                      listening socket's path)
# Any of them first sleeps ?ms= milliseconds. Each answers JSON with "pid"
# and what it did.
import json
import os
import socket
import stat
import time


def descriptors():
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the directory's own descriptor, closed by now
            continue
        if target != f"/proc/{os.getpid()}/fd":  # another request thread's listing
            out[int(name)] = target
    return out


def readable(fds):
    seen = {}
    for fd in fds:
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                seen[fd] = os.pread(fd, 64, 0).decode("latin-1")
        except OSError:
            pass
    return seen


def is_listening(fd):
    try:
        s = socket.socket(fileno=fd)
    except OSError:
        return False  # not a socket
    try:
        return bool(s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        return False
    finally:
        s.detach()  # never let the object close what it only looked at


def is_unnamed_unix_socket(fd):
    try:
        s = socket.socket(fileno=fd)
    except OSError:
        return False
    try:
        return s.family == socket.AF_UNIX and s.getsockname() in ("", b"") and \
            not s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    except OSError:
        return False
    finally:
        s.detach()


def close_where(predicate):
    closed = []
    for fd, target in sorted(descriptors().items()):
        if fd > 2 and predicate(fd, target):
            os.close(fd)
            closed.append(fd)
    return closed


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = dict(p.partition("=")[::2] for p in environ.get("QUERY_STRING", "").split("&") if p)
    answer = {"pid": os.getpid()}
    if "ms" in query:
        time.sleep(int(query["ms"]) / 1000.0)
    if path == "/fds":
        fds = descriptors()
        answer.update(fds={str(k): v for k, v in fds.items()}, readable={str(k): v for k, v in readable(fds).items()})
    elif path == "/close":
        try:
            os.close(int(query["fd"]))
            answer["closed"] = [int(query["fd"])]
        except OSError as e:
            answer["error"] = e.strerror
    elif path == "/close-listening":
        answer["closed"] = close_where(lambda fd, _target: is_listening(fd))
    elif path == "/close-notify":
        answer["closed"] = close_where(lambda fd, target: target.startswith("pipe:") or is_unnamed_unix_socket(fd))
    body = json.dumps(answer).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
