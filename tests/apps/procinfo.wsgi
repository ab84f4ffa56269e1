# Who is serving: the worker process as its application sees it, for the
# supervisor scenarios (which process served a request, as whom, with which
# WSGI flags). Mount it beside dispatch.wsgi, e.g. at /proc.
#
#   any path [ms, started]   writes the file `started` (if given), sleeps ms
#                            (default 0), then answers JSON: pid, ppid,
#                            getresuid, getresgid, getgroups, the WSGI flags,
#                            mod_wsgi.process_group and the path it was asked
import json
import os
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if "started" in q:
        with open(q["started"], "w") as f:
            f.write("started\n")
    ms = int(q.get("ms", 0))
    if ms:
        time.sleep(ms / 1000.0)
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
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
