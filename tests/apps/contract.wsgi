# An application that looks at the descriptors of the worker that runs it:
# for tests/integration/test_worker_contract.py.
#
#   /fds               JSON: pid and each open descriptor -> its /proc link,
#                      and "readable": the descriptors through which the
#                      first bytes of a regular file could be read, with them
# Any of them first sleeps ?ms= milliseconds. Each answers JSON with "pid"
# and what it did.
import json
import os
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


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = dict(p.partition("=")[::2] for p in environ.get("QUERY_STRING", "").split("&") if p)
    answer = {"pid": os.getpid()}
    if "ms" in query:
        time.sleep(int(query["ms"]) / 1000.0)
    if path == "/fds":
        fds = descriptors()
        answer.update(fds={str(k): v for k, v in fds.items()}, readable={str(k): v for k, v in readable(fds).items()})
    body = json.dumps(answer).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
