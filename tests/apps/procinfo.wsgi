# Who is serving: the worker process as its application sees it, for the
# supervisor scenarios (which process served a request, as whom, with which
# WSGI flags). Mount it beside dispatch.wsgi, e.g. at /proc.
#
#   any path [ms, started]   writes the file `started` (if given), sleeps ms
#                            (default 0), then answers JSON: pid, ppid,
#                            getresuid, getresgid, getgroups, the WSGI flags,
#                            mod_wsgi.process_group and the path it was asked
#   [spin=MS]                first loops in pure Python for MS milliseconds
#   [hold_gil=S]             first blocks S seconds holding the GIL (libc
#                            sleep through ctypes.PyDLL), for deadlock-timeout
# It also says which process imported it ("imported_in": the serving one,
# or with preload-fork the template it was forked from) and its VERSION,
# which a test may change to see new code served.
import ctypes
import json
import os
import time
from urllib.parse import parse_qs

IMPORTED_IN = os.getpid()
VERSION = 1


def application(environ, start_response):
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if "started" in q:
        with open(q["started"], "w") as f:
            f.write("started\n")
    ms = int(q.get("ms", 0))
    if ms:
        time.sleep(ms / 1000.0)
    if "spin" in q:  # busy in pure Python: the interpreter still hands the GIL over
        end = time.monotonic() + int(q["spin"]) / 1000.0
        while time.monotonic() < end:
            pass
    if "hold_gil" in q:  # libc sleep(3) through PyDLL, which keeps the GIL: a deadlock
        ctypes.PyDLL(None).sleep(int(q["hold_gil"]))
    body = json.dumps({
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "uids": list(os.getresuid()),
        "gids": list(os.getresgid()),
        "groups": sorted(os.getgroups()),
        "multiprocess": environ.get("wsgi.multiprocess"),
        "multithread": environ.get("wsgi.multithread"),
        "run_once": environ.get("wsgi.run_once"),
        "process_group": environ.get("mod_wsgi.process_group"),
        "path": environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", ""),
        "imported_in": IMPORTED_IN,
        "version": VERSION,
        "application_group": environ.get("mod_wsgi.application_group"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
