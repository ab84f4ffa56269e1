# An application whose atexit handler leaves a file behind, so a test can see
# that a graceful stop ran it. The file is markers/atexit-GROUP-PID beside this
# script (GROUP "GLOBAL" for the main interpreter), registered on the first
# request, when the application group is known.
import atexit
import json
import os
import threading

MARKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "markers")
_registered = []
_lock = threading.Lock()


def _write(path):
    with open(path, "w") as f:
        f.write("atexit ran\n")


def application(environ, start_response):
    group = environ.get("mod_wsgi.application_group") or "GLOBAL"
    path = os.path.join(MARKERS, f"atexit-{group.replace('/', '_')}-{os.getpid()}")
    with _lock:
        if not _registered:
            atexit.register(_write, path)
            _registered.append(path)
    body = json.dumps({"marker": _registered[0], "group": group, "pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
