#!/usr/bin/python3.13
"""Survey: which modules import in a PEP 684 own-GIL sub-interpreter (the
isolated interpreter an `own-gil` application group is), for the table in
docs/design.md. Needs Python 3.12+ and the packages to survey installed
(Debian's python3-*); modules that are not installed are reported as such.

Usage (in a Debian 13 root with the packages installed; see docs/design.md):
    python3.13 bench/own_gil_modules.py [OUTDIR]   # every module; OUTDIR/results.json (default: beside this file)
    python3.13 bench/own_gil_modules.py --child MODE TARGET OUTFILE   # internal

Every (target, mode) pair runs in its own fresh python3.13 process, and for the
sub-interpreter modes in a freshly created sub-interpreter, so no earlier import
(in this or any other interpreter of the process) can influence the result and a
crash only loses one data point.

MODE: main      -> import in the main interpreter of a fresh process
      isolated  -> _interpreters.create('isolated')  (own GIL, own obmalloc,
                   check_multi_interp_extensions=True)
      legacy    -> _interpreters.create('legacy')    (shared GIL/obmalloc, no check)
TARGET: a module name, or "app:flask" / "app:django_client" / "app:django_wsgi",
        or a "use:..." first-call check (see APP_BODY).
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = sys.executable

THIRD_PARTY = [
    "flask", "django", "jinja2", "markupsafe", "werkzeug", "yaml", "lxml.etree",
    "numpy", "psycopg2", "MySQLdb", "sqlalchemy", "PIL.Image",
    "cryptography.hazmat.bindings._rust", "cryptography.fernet", "bcrypt",
    "msgpack", "ujson", "simplejson", "requests", "charset_normalizer",
    "pydantic", "pydantic_core", "regex", "greenlet", "gevent", "bs4",
    "dateutil", "pytz", "babel", "click", "itsdangerous", "blinker", "redis",
    "pymysql", "psutil", "zmq", "cffi", "_cffi_backend", "nacl", "rapidjson",
    "orjson", "argon2", "brotli", "zstandard",
]
STDLIB = [
    "json", "_json", "decimal", "_decimal", "ctypes", "_ctypes", "sqlite3",
    "_sqlite3", "ssl", "_ssl", "hashlib", "_hashlib", "zlib", "lzma", "_lzma",
    "bz2", "_bz2", "_pickle", "datetime", "_datetime", "zoneinfo", "_zoneinfo",
    "xml.etree.ElementTree", "pyexpat", "_elementtree", "readline", "curses",
    "_curses", "tkinter", "_tkinter", "dbm.gnu", "_gdbm", "multiprocessing",
    "_multiprocessing", "asyncio", "_asyncio", "uuid", "_uuid", "socket",
    "_socket", "select", "mmap", "array", "_testcapi", "tracemalloc",
    "_tracemalloc", "unicodedata", "_md5", "_sha1", "_sha2", "_sha3", "_blake2",
    "grp", "pwd", "resource", "termios", "fcntl",
    # controls: CPython's own single-phase / multi-phase test extensions
    "_testsinglephase", "_testmultiphase",
]
APPS = ["app:flask", "app:django_client", "app:django_wsgi"]
MODES = ["main", "isolated", "legacy"]

# Optional per-module probes run after a successful import, to detect silent
# fallbacks from a C accelerator to pure Python.
PROBES = {
    "yaml": "yaml.__with_libyaml__",
    "markupsafe": "markupsafe.escape.__module__",
    "msgpack": "msgpack.Packer.__module__",
    "simplejson": "simplejson._import_c_make_encoder() is not None",
    "sqlalchemy": "__import__('sqlalchemy.util._has_cy', fromlist=['x']).HAS_CYEXTENSION",
    "charset_normalizer": "__import__('charset_normalizer.md', fromlist=['x']).__file__",
    "json": "__import__('json.decoder', fromlist=['x']).c_scanstring is not None",
    "decimal": "decimal.__file__ if hasattr(decimal, '__file__') else None, decimal.Decimal.__module__",
    "datetime": "datetime.datetime.__module__",
    "pickle": "pickle.Pickler.__module__",
}

# ---------------------------------------------------------------- child code
IMPORT_CODE = r'''
import sys, time
_OUT = %(out)r
_MOD = %(mod)r
_PROBE = %(probe)r
_t0 = time.perf_counter()
_res = {"target": _MOD}
try:
    __import__(_MOD)
    _m = sys.modules[_MOD]
    _res["ok"] = True
    _res["file"] = getattr(_m, "__file__", None)
    _top = sys.modules.get(_MOD.split(".")[0])
    _res["top_file"] = getattr(_top, "__file__", None)
    _res["version"] = getattr(_top, "__version__", None) if isinstance(getattr(_top, "__version__", None), str) else None
except BaseException as _e:
    import traceback
    _res["ok"] = False
    _res["exc_type"] = type(_e).__module__ + "." + type(_e).__qualname__
    _res["exc_msg"] = str(_e)
    _res["traceback"] = traceback.format_exc()
_res["elapsed_s"] = round(time.perf_counter() - _t0, 4)
_res["ext_modules_loaded"] = sorted(
    n for n, m in list(sys.modules.items())
    if (getattr(m, "__file__", None) or "").endswith(".so"))
if _res["ok"] and _PROBE:
    try:
        _ns = {_MOD.split(".")[0]: sys.modules[_MOD.split(".")[0]]}
        _res["probe"] = [_PROBE, repr(eval(_PROBE, _ns))]
    except BaseException as _e:
        _res["probe"] = [_PROBE, "probe failed: %%s: %%s" %% (type(_e).__name__, _e)]
import json
with open(_OUT, "w") as _f:
    json.dump(_res, _f)
'''

APP_BODY = {
"app:flask": r'''
import flask
app = flask.Flask("x")
@app.route("/")
def index():
    return flask.render_template_string("hello {{ who }}", who="<world>")
r = app.test_client().get("/")
_detail = {"status": r.status_code, "body": r.get_data(as_text=True)}
_ok = (r.status_code == 200 and r.get_data(as_text=True) == "hello &lt;world&gt;")
''',
"app:django_client": r'''
import django
from django.conf import settings
from django.http import HttpResponse
from django.urls import path
def index(request):
    return HttpResponse("hello from django")
urlpatterns = [path("", index)]
settings.configure(DEBUG=False, SECRET_KEY="x" * 50, ROOT_URLCONF="__main__",
                   ALLOWED_HOSTS=["*"], INSTALLED_APPS=[], MIDDLEWARE=[],
                   DATABASES={}, USE_TZ=True)
django.setup()
from django.test import Client
r = Client().get("/")
_detail = {"status": r.status_code, "body": r.content.decode()}
_ok = (r.status_code == 200 and r.content == b"hello from django")
''',
"app:django_wsgi": r'''
import django, io
from django.conf import settings
from django.http import HttpResponse
from django.urls import path
def index(request):
    return HttpResponse("hello from django")
urlpatterns = [path("", index)]
settings.configure(DEBUG=False, SECRET_KEY="x" * 50, ROOT_URLCONF="__main__",
                   ALLOWED_HOSTS=["*"], INSTALLED_APPS=[], MIDDLEWARE=[],
                   DATABASES={}, USE_TZ=True)
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "SCRIPT_NAME": "",
           "QUERY_STRING": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
           "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "localhost",
           "wsgi.version": (1, 0), "wsgi.url_scheme": "http",
           "wsgi.input": io.BytesIO(b""), "wsgi.errors": io.StringIO(),
           "wsgi.multithread": False, "wsgi.multiprocess": True,
           "wsgi.run_once": False}
_st = []
body = b"".join(application(environ, lambda s, h, e=None: _st.append(s)))
_detail = {"status": _st[0] if _st else None, "body": body.decode()}
_ok = (_st and _st[0].startswith("200") and body == b"hello from django")
''',
}

# "use:" targets: a first real call after the import, for packages whose
# top-level import is lazy or silently falls back when an accelerator fails.
APP_BODY.update({
"use:pydantic": r"""
import pydantic
class M(pydantic.BaseModel):
    x: int
m = M(x="1")
_detail = {"x": m.x}
_ok = (m.x == 1)
""",
"use:nacl": r"""
import nacl.secret
box = nacl.secret.SecretBox(b"k" * 32)
_ok = (box.decrypt(box.encrypt(b"hi")) == b"hi")
_detail = {}
""",
"use:cffi": r"""
import cffi
ffi = cffi.FFI()
ffi.cdef("int abs(int);")
C = ffi.dlopen(None)
_detail = {"abs(-3)": C.abs(-3)}
_ok = (C.abs(-3) == 3)
""",
"use:sqlalchemy": r"""
import sqlalchemy as sa
e = sa.create_engine("sqlite://")
with e.connect() as c:
    v = c.execute(sa.text("select 1")).scalar()
_detail = {"select 1": v}
_ok = (v == 1)
""",
"use:requests": r"""
import requests, requests.compat, urllib3.util.request
r = requests.models.Response()
r._content = "h\u00e9llo w\u00f6rld".encode("utf-8")
_detail = {"compat.chardet": getattr(requests.compat.chardet, "__name__", None),
           "apparent_encoding": r.apparent_encoding,
           "urllib3 ACCEPT_ENCODING": urllib3.util.request.ACCEPT_ENCODING,
           "compat.json": requests.compat.json.__name__}
_ok = True
""",
"use:pymysql": r"""
import pymysql, pymysql._auth
_detail = {"pymysql._auth._have_cryptography": pymysql._auth._have_cryptography}
_ok = True
""",
"use:dateutil_babel_pytz": r"""
import datetime
from dateutil import parser, tz
from babel.dates import format_date
import pytz
d = parser.parse("2024-01-02T03:04:05+01:00")
_detail = {"dateutil": d.isoformat(),
           "gettz": str(tz.gettz("Europe/Berlin")),
           "babel": format_date(datetime.date(2024, 1, 2), locale="de_DE"),
           "pytz": str(pytz.timezone("Europe/Berlin").localize(datetime.datetime(2024, 7, 1)))}
_ok = True
""",
"use:django_orm_sqlite": r"""
import django
from django.conf import settings
settings.configure(SECRET_KEY="x" * 50, USE_TZ=True,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth.models import User
User.objects.create_user("u", password="p")
u = User.objects.get(username="u")
_detail = {"users": User.objects.count(), "check_password": u.check_password("p")}
_ok = (_detail["users"] == 1 and _detail["check_password"])
""",
"use:stdlib": r"""
_detail = {}
def _step(name, fn):
    try:
        _detail[name] = repr(fn())[:80]
    except BaseException as e:
        _detail[name] = "FAILED %s: %s" % (type(e).__name__, e)
import ssl, sqlite3, ctypes, decimal, zoneinfo, asyncio, hashlib, json, datetime, uuid, lzma, bz2, zlib, pickle, xml.etree.ElementTree as ET
_step("ssl.create_default_context", lambda: ssl.create_default_context().verify_mode)
_step("sqlite3 select", lambda: sqlite3.connect(":memory:").execute("select 1+1").fetchone())
_step("ctypes libc abs", lambda: ctypes.CDLL(None).abs(-5))
_step("decimal", lambda: decimal.Decimal("1.1") + decimal.Decimal("2.2"))
_step("zoneinfo", lambda: datetime.datetime(2024, 7, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")).utcoffset())
_step("asyncio.run", lambda: asyncio.run(asyncio.sleep(0, "done")))
_step("hashlib.pbkdf2", lambda: hashlib.pbkdf2_hmac("sha256", b"p", b"s", 1000).hex()[:16])
_step("hashlib.sha3/blake2", lambda: (hashlib.sha3_256(b"").hexdigest()[:8], hashlib.blake2b(b"").hexdigest()[:8]))
_step("uuid4", lambda: uuid.uuid4().version)
_step("lzma/bz2/zlib roundtrip", lambda: lzma.decompress(lzma.compress(b"x")) + bz2.decompress(bz2.compress(b"y")) + zlib.decompress(zlib.compress(b"z")))
_step("pickle", lambda: pickle.loads(pickle.dumps({"a": [1, 2]})))
_step("ElementTree", lambda: ET.fromstring("<a><b>t</b></a>").find("b").text)
_step("json C scanner", lambda: json.decoder.c_scanstring is not None)
_ok = not any(str(v).startswith("FAILED") for v in _detail.values())
""",
})
USES = [k for k in APP_BODY if k.startswith("use:")]

APP_CODE = r'''
import sys, time
_OUT = %(out)r
_t0 = time.perf_counter()
_res = {"target": %(target)r}
try:
    exec(compile(%(body)r, "<app>", "exec"), globals())
    _res["ok"] = bool(_ok)
    _res["detail"] = _detail
except BaseException as _e:
    import traceback
    _res["ok"] = False
    _res["exc_type"] = type(_e).__module__ + "." + type(_e).__qualname__
    _res["exc_msg"] = str(_e)
    _res["traceback"] = traceback.format_exc()
_res["elapsed_s"] = round(time.perf_counter() - _t0, 4)
_res["ext_modules_loaded"] = sorted(
    n for n, m in list(sys.modules.items())
    if (getattr(m, "__file__", None) or "").endswith(".so"))
import json
with open(_OUT, "w") as _f:
    json.dump(_res, _f)
'''


def make_code(target, out):
    if ":" in target:
        return APP_CODE % {"out": out, "target": target, "body": APP_BODY[target]}
    return IMPORT_CODE % {"out": out, "mod": target,
                          "probe": PROBES.get(target.split(".")[0], "")}


def child(mode, target, out):
    code = make_code(target, out)
    meta = {"mode": mode}
    if mode == "main":
        exec(compile(code, "<survey>", "exec"), vars(sys.modules["__main__"]))
    else:
        import _interpreters
        iid = _interpreters.create(mode)
        cfg = _interpreters.get_config(iid)
        meta["config"] = {k: getattr(cfg, k) for k in (
            "use_main_obmalloc", "allow_fork", "allow_exec", "allow_threads",
            "allow_daemon_threads", "check_multi_interp_extensions", "gil")}
        excinfo = _interpreters.exec(iid, code)
        meta["exec_returned"] = None if excinfo is None else repr(excinfo)
        try:
            _interpreters.destroy(iid)
            meta["destroy"] = "ok"
        except BaseException as e:
            meta["destroy"] = "%s: %s" % (type(e).__name__, e)
    with open(out) as f:
        res = json.load(f)
    res.update(meta)
    with open(out, "w") as f:
        json.dump(res, f)


# ---------------------------------------------------------------- parent code
def dpkg_owner(path):
    if not path:
        return None
    p = subprocess.run(["dpkg-query", "-S", path], capture_output=True, text=True)
    if p.returncode != 0:
        # dpkg may record the /usr-merged path differently
        return None
    pkg = p.stdout.split(":")[0].strip()
    v = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg],
                       capture_output=True, text=True).stdout.strip()
    return {"package": pkg, "version": v}


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else HERE
    outdir = os.path.join(top, "raw")
    os.makedirs(outdir, exist_ok=True)
    results = {
        "python": sys.version,
        "python_pkg": dpkg_owner(os.path.realpath(PY)),
        "configs": {},
        "targets": {},
    }
    import _interpreters
    for name in ("isolated", "legacy"):
        c = _interpreters.new_config(name)
        results["configs"][name] = vars(c)
    for target in THIRD_PARTY + STDLIB + APPS + USES:
        entry = {"group": ("third-party" if target in THIRD_PARTY else
                           "stdlib" if target in STDLIB else
                           "app" if target in APPS else "use")}
        for mode in MODES:
            out = os.path.join(outdir, "%s.%s.json" % (target.replace(":", "_"), mode))
            if os.path.exists(out):
                os.unlink(out)
            t0 = time.time()
            try:
                p = subprocess.run([PY, os.path.abspath(__file__), "--child", mode,
                                    target, out], capture_output=True, text=True,
                                   timeout=180)
                rc, stderr = p.returncode, p.stderr
            except subprocess.TimeoutExpired as e:
                rc, stderr = "timeout", (e.stderr or b"").decode(errors="replace")
            r = {}
            if os.path.exists(out):
                with open(out) as f:
                    r = json.load(f)
            r["process_rc"] = rc
            r["wall_s"] = round(time.time() - t0, 3)
            if stderr.strip():
                r["process_stderr_tail"] = stderr[-3000:]
            entry[mode] = r
            status = ("OK" if r.get("ok") else
                      "%s: %s" % (r.get("exc_type"), r.get("exc_msg")) if "ok" in r
                      else "NO RESULT rc=%s" % rc)
            print("%-36s %-8s %s" % (target, mode, status[:150]), flush=True)
        if ":" not in target:
            m = entry.get("main", {})
            origin = m.get("file") or m.get("top_file")
            if target in sys.builtin_module_names:
                entry["built_in"] = True
                entry["deb"] = dpkg_owner(os.path.realpath(PY))
            else:
                entry["deb"] = dpkg_owner(origin)
            # extension modules that loaded in main but not in the isolated
            # sub-interpreter (silent fallback candidates)
            a = set(m.get("ext_modules_loaded", []))
            b = set(entry.get("isolated", {}).get("ext_modules_loaded", []))
            entry["ext_missing_in_isolated"] = sorted(a - b)
        results["targets"][target] = entry
    with open(os.path.join(top, "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=False)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main()
