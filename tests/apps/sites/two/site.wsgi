# A small site that puts its own directory on sys.path and does `import config`
# (one of two such sites, each with its own config.py). Each in its own
# application group, each finds its own config; both in %{GLOBAL}, the second
# finds the module the first one imported.
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import config  # noqa: E402


def application(environ, start_response):
    body = json.dumps({"site": config.SITE_NAME, "config": config.__file__,
                       "script": __file__, "group": environ.get("mod_wsgi.application_group"),
                       "pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
