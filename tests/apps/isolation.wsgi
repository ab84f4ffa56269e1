# What an application group with a GIL of its own (own-gil) is, and what it
# may do, for tests/integration/test_own_gil.py:
#   ?what=interp        JSON: pid, application group, interpreter id, and its
#                       configuration (gil: own or shared, allow_fork, ...)
#   ?hold=S[&started=F1][&released=F2]   blocks S seconds in C holding its
#                       GIL: libc system("touch F1; sleep S; touch F2")
#                       through ctypes.PyDLL, so F1 exists only once the GIL
#                       is held for good, and F2 before it is let go
#   ?seen=FILE          first says whether FILE exists ("seen": true/false)
#   ?try=fork|subprocess|thread|daemon   JSON {"ok": ..., "error": ...}
#   ?stuck=1            never returns by itself (a loop in stuck_here)
#   ?crash=1            dies of SIGSEGV (reads address 0 through ctypes)
# Its first request registers an atexit handler that writes
# markers/atexit-GROUP beside this script, run when the group's interpreter
# ends at a graceful stop.
import atexit
import ctypes
import json
import os
import subprocess
import threading
import time
from urllib.parse import parse_qs

HERE = os.path.dirname(os.path.abspath(__file__))
_registered = []


def interpreter():
    import _interpreters
    ident = _interpreters.get_current()[0]
    config = vars(_interpreters.get_config(ident))
    return {"id": int(ident), "config": config}


def attempt(what):
    try:
        if what == "fork":
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            return {"ok": True}
        if what == "subprocess":
            out = subprocess.run(["/bin/echo", "hello"], capture_output=True, check=True).stdout
            return {"ok": out == b"hello\n"}
        if what in ("thread", "daemon"):
            done = []
            t = threading.Thread(target=lambda: done.append(1), daemon=what == "daemon")
            t.start()
            t.join(5)
            return {"ok": done == [1]}
    except Exception as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    return {"ok": False, "error": f"unknown {what}"}


def stuck_here():
    while True:
        time.sleep(0.05)


def at_exit(group):
    markers = os.path.join(HERE, "markers")
    os.makedirs(markers, exist_ok=True)
    with open(os.path.join(markers, f"atexit-{group}"), "w") as f:
        f.write(f"{os.getpid()}\n")


def application(environ, start_response):
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    seen = os.path.exists(q["seen"]) if "seen" in q else None
    group = environ.get("mod_wsgi.application_group")
    if not _registered:
        _registered.append(group)
        atexit.register(at_exit, group)
    if "hold" in q:
        started = f"touch '{q['started']}'; " if "started" in q else ""
        released = f"; touch '{q['released']}'" if "released" in q else ""
        ctypes.PyDLL(None).system(f"{started}sleep {int(q['hold'])}{released}".encode())
    if "stuck" in q:
        stuck_here()
    if "crash" in q:
        ctypes.string_at(0)
    out = {"pid": os.getpid(), "group": group, "seen": seen}
    if q.get("what") == "interp":
        out["interpreter"] = interpreter()
    if "try" in q:
        out.update(attempt(q["try"]))
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
