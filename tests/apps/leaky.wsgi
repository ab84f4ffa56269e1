# An application that leaks: every request keeps `mb` megabytes (default 4)
# in a module-level list, written so the pages are resident, as a cache that
# is never pruned would. For maximum-memory (tests/integration/test_maximum_memory.py).
#
#   any path [mb, ms]   leaks mb MB, sleeps ms (default 0), then answers JSON:
#                       pid, the MB this process has leaked so far, its RSS
#                       in bytes (/proc/self/statm) and the process that
#                       imported it (with preload-fork, the template)
import json
import os
import time
from urllib.parse import parse_qs

IMPORTED_IN = os.getpid()
LEAKED = []
PAGE = os.sysconf("SC_PAGE_SIZE")


def application(environ, start_response):
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    mb = int(q.get("mb", 4))
    LEAKED.append(b"\x01" * (mb << 20))
    time.sleep(int(q.get("ms", 0)) / 1000.0)
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * PAGE
    body = json.dumps({"pid": os.getpid(), "leaked_mb": sum(len(b) for b in LEAKED) >> 20,
                       "rss": rss, "imported_in": IMPORTED_IN}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
