# Which Python the pool runs: sys.prefix, and whether the package that only the
# test's virtualenv holds (wfpm_venv_only, dropped into its site-packages by
# hand) imports, and from where. flask comes from the system's site-packages,
# which a venv made with --system-site-packages still sees.
import json
import sys


def _find(name):
    try:
        module = __import__(name)
    except ImportError as e:
        return {"error": str(e)}
    return {"file": getattr(module, "__file__", None), "where": getattr(module, "WHERE", None)}


def application(environ, start_response):
    body = json.dumps({
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "venv_only": _find("wfpm_venv_only"),
        "flask": _find("flask"),
        "group": environ.get("mod_wsgi.application_group"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
