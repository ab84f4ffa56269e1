# What a pool's Python settings look like from inside: the working directory
# (home), LANG / LC_ALL and the locale (lang, locale), a module found only on
# python-path, and a variable from `environment`.
import json
import locale
import os
import sys


def application(environ, start_response):
    try:
        import only_on_python_path
        extra = only_on_python_path.WHO
    except ImportError as e:
        extra = "ImportError: %s" % e
    body = json.dumps({
        "cwd": os.getcwd(),
        "LANG": os.environ.get("LANG"),
        "LC_ALL": os.environ.get("LC_ALL"),
        "encoding": locale.getpreferredencoding(False),
        "fs_encoding": sys.getfilesystemencoding(),
        "python_path_module": extra,
        "GREETING": os.environ.get("GREETING"),
        "PATH": os.environ.get("PATH"),
        "secret_from_supervisor": os.environ.get("WFPM_SUPERVISOR_SECRET"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
