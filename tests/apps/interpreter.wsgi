# The interpreter a worker runs, as its application sees it, for the zygote
# scenarios (tests/integration/test_zygote.py): whether two workers' Pythons
# were started the same way, and as whom. Answers JSON.
import json
import locale
import os
import sys


def status_fields(*names):
    found = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in names:
                found[key] = value.strip()
    return found


def application(environ, start_response):
    body = {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        # The same in every worker forked from one zygote, whichever pool.
        "hash": hash("wsgi-fpm zygote"),
        "resuid": os.getresuid(),
        "resgid": os.getresgid(),
        "groups": sorted(os.getgroups()),
        "status": status_fields("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs"),
        "environ": dict(os.environ),
        "path": sys.path,
        "flags": repr(sys.flags),
        "cwd": os.getcwd(),
        "encoding": [sys.getfilesystemencoding(), locale.getpreferredencoding(False), locale.setlocale(locale.LC_ALL)],
        "executable": sys.executable,
        "modules_site": "site" in sys.modules,
        # Modules loaded from a descriptor (a spare's rehearsal script is read
        # from /proc/self/fd/N): none may be left for the tenant.
        "modules_from_fds": sorted(n for n, m in list(sys.modules.items())
                                   if str(getattr(m, "__file__", "")).startswith("/proc/")),
    }
    data = json.dumps(body).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
