"""One application, three frontends (issue #4): the same requests through
Apache 2.4 (mod_proxy_fcgi, mod_proxy_scgi), lighttpd (fastcgi.server,
scgi.server) and nginx (fastcgi_pass, scgi_pass) reach a wsgi-fpm pool, and
the application sees the same thing behind each. Every frontend runs an
example of etc/apache, etc/lighttpd or etc/nginx as shipped, with only its
address, socket and document root replaced.

Pools (one supervisor, all as the user wfpm-test, sockets owned by www-data,
which all three frontends run as):
  paths       FastCGI: tests/apps/frontends/echo.wsgi at /app and at /app/sub,
              etc/examples/hello.wsgi (which never reads its input) at /app/hello
  paths-scgi  the same over SCGI
  frameworks  Flask (tests/apps/flask_app) at /flask and Django
              (tests/apps/django_site) at /django, each in its own
              sub-interpreter; python-path and DJANGO_SETTINGS_MODULE as a
              Django deployment sets them
  venv        python-home: a virtualenv the test makes with
              `python3 -m venv --system-site-packages` (the
              Python the build embeds) and drops a package
              into by hand; venv_probe.wsgi at /venv/main (%{GLOBAL}) and
              /venv/sub (its own sub-interpreter)
  novenv      the same probe without python-home, to show the package is the
              venv's alone

The path table (20 awkward requests x every frontend) goes to stderr. Then:
an app that never reads its input (GETs, and POSTs it ignores) behind every
frontend; Flask's url_for and Django's reverse and admin login under their
mounts; a virtualenv's own package through python-home.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

from support.clients import fcgi_request, http_request  # noqa: E402
from support.files import Scratch, install_tree  # noqa: E402
from support.frontends import start_frontend  # noqa: E402
from support.paths import ETC  # noqa: E402
from support.runner import Group, Runner  # noqa: E402
from support.supervisor import Supervisor  # noqa: E402
from support.users import FRONTEND_USER, TEST_USER, chown_tree, ensure_user  # noqa: E402

# (column, frontend, example, protocol): the path table's columns. The "/app"
# ones send only /app to the pool (the issue's <Location /app> form), the
# others the whole site; SITES are the whole-site FastCGI ones.
VARIANTS = [
    ("apache", "apache", "wsgi-fpm-fastcgi.conf", "fastcgi"),
    ("apache/app", "apache", "wsgi-fpm-fastcgi-app.conf", "fastcgi"),
    ("apache-scgi", "apache", "wsgi-fpm-scgi.conf", "scgi"),
    ("lighttpd", "lighttpd", "wsgi-fpm-fastcgi.conf", "fastcgi"),
    ("lighttpd/app", "lighttpd", "wsgi-fpm-fastcgi-app.conf", "fastcgi"),
    ("lighttpd-scgi", "lighttpd", "wsgi-fpm-scgi.conf", "scgi"),
    ("nginx", "nginx", "wsgi-fpm-fastcgi.conf", "fastcgi"),
    ("nginx-scgi", "nginx", "wsgi-fpm-scgi.conf", "scgi"),
]
SITES = [v for v in VARIANTS if v[3] == "fastcgi" and not v[0].endswith("/app")]

FORM = b"a=1&b=%3D"
CHUNKED = bytes(range(100)) * 3
NOT_FOUND = (404,)

# The 20 requests: (label, method, target, body, chunked, expected). expected
# is (SCRIPT_NAME, PATH_INFO, QUERY_STRING) for a 200 from echo.wsgi, or
# NOT_FOUND for a path under no mount of the pool. PATH_INFO is the decoded
# path as a WSGI native string (UTF-8 bytes as latin-1), with dot segments
# resolved and nothing else changed.
CAFE = "/caf\u00c3\u00a9"
ROWS = [
    ("exactly the mount", "GET", "/app", None, False, ("/app", "", "")),
    ("the mount and /", "GET", "/app/", None, False, ("/app", "/", "")),
    ("trailing slash", "GET", "/app/x/y/", None, False, ("/app", "/x/y/", "")),
    ("space", "GET", "/app/a%20b", None, False, ("/app", "/a b", "")),
    ("UTF-8, encoded", "GET", "/app/caf%C3%A9", None, False, ("/app", CAFE, "")),
    ("UTF-8, raw bytes", "GET", "/app/caf\u00e9", None, False, ("/app", CAFE, "")),
    ("encoded slash %2F", "GET", "/app/a%2Fb", None, False, ("/app", "/a/b", "")),
    ("double slashes", "GET", "/app//x//y", None, False, ("/app", "//x//y", "")),
    ("dot segments", "GET", "/app/a/./b/../c", None, False, ("/app", "/a/c", "")),
    ("dot-dot back to the mount", "GET", "/app/x/..", None, False, ("/app", "/", "")),
    ("encoded dot-dot out of it", "GET", "/app/%2e%2e/x", None, False, NOT_FOUND),
    ("longest mount wins", "GET", "/app/sub/x", None, False, ("/app/sub", "/x", "")),
    ("prefix, not a segment", "GET", "/app/subway", None, False, ("/app", "/subway", "")),
    ("under no mount", "GET", "/application", None, False, NOT_FOUND),
    ("query with & and =", "GET", "/app/x?a=1&b=2", None, False, ("/app", "/x", "a=1&b=2")),
    ("encoded & = % in query", "GET", "/app/q?x=a%3Db%26c&p=100%25", None, False,
     ("/app", "/q", "x=a%3Db%26c&p=100%25")),
    ("plus signs", "GET", "/app/a+b?x=1+2", None, False, ("/app", "/a+b", "x=1+2")),
    ("encoded ? in the path", "GET", "/app/x%3Fy?z=1", None, False, ("/app", "/x?y", "z=1")),
    ("POST a form", "POST", "/app/form?id=7", FORM, False, ("/app", "/form", "id=7")),
    ("POST chunked", "POST", "/app/chunked", CHUNKED, True, ("/app", "/chunked", "")),
]

# Where a frontend itself answers instead of the pool, and why: {(row label,
# column): (status, reason)}. Only these may differ from the expectation.
FRONTEND_ANSWERS = {
    ("encoded dot-dot out of it", "apache/app"):
        (404, "Apache resolves /app/%2e%2e/x to /x, outside <Location /app>"),
    ("encoded dot-dot out of it", "lighttpd/app"):
        (404, "lighttpd resolves /app/%2e%2e/x to /x, outside \"/app\""),
    ("under no mount", "apache/app"):
        (404, "<Location /app> does not cover /application (lighttpd's \"/app\" does; the pool 404s)"),
    ("POST chunked", "apache-scgi"):
        (411, "mod_proxy_scgi sends no request body without Content-Length (411 Length Required)"),
}


def echo_apps(d):
    return [{"mount": "/app", "script": os.path.join(d, "echo.wsgi")},
            {"mount": "/app/sub", "script": os.path.join(d, "echo.wsgi")},
            {"mount": "/app/hello", "script": os.path.join(d, "hello.wsgi")}]


def make_venv(scratch):
    """A virtualenv as a user makes one (no pip: --without-pip), seeing the
    system's packages, plus a package only it has, dropped in by hand."""
    venv = scratch.file("venv")
    r = subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                        venv], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"{sys.executable} -m venv: exit {r.returncode}: {r.stderr}")
    site = os.path.join(venv, "lib", "python%d.%d" % sys.version_info[:2], "site-packages")
    pkg = os.path.join(site, "wfpm_venv_only")
    os.makedirs(pkg)
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write('WHERE = "only in the test\'s virtualenv"\n')
    for root, dirs, files in os.walk(venv):
        os.chmod(root, 0o755)
    return venv, site


class Stack:
    """The supervisor with the pools above, and the frontends in front of them."""

    def __init__(self, on_close):
        ensure_user()
        self.scratch = Scratch(prefix="wfpm-frontends-")
        apps = install_tree(self.scratch, "frontends")
        shutil.copy(os.path.join(ETC, "examples", "hello.wsgi"), apps)  # never reads wsgi.input
        chown_tree(apps, TEST_USER)
        flask = install_tree(self.scratch, "flask_app")
        django = install_tree(self.scratch, "django_site")
        self.venv, self.venv_site = make_venv(self.scratch)
        run = self.scratch.sub("run")
        common = {"user": TEST_USER, "socket-user": FRONTEND_USER, "threads": 4, "home": apps}

        def pool(name, **keys):
            p = dict(common, listen=os.path.join(run, f"{name}.sock"))
            p.update(keys)
            return p

        probe = os.path.join(apps, "venv_probe.wsgi")
        self.config = {
            "runtime-dir": self.scratch.file("runtime"),
            "log": "stderr",
            "pools": {
                "paths": pool("paths", apps=echo_apps(apps)),
                "paths-scgi": pool("paths-scgi", protocol="scgi", apps=echo_apps(apps)),
                "frameworks": pool("frameworks", **{
                    "python-path": [django],
                    "environment": {"DJANGO_SETTINGS_MODULE": "wfpm_django.settings"},
                    "apps": [{"mount": "/flask", "script": os.path.join(flask, "flask_site.wsgi")},
                             {"mount": "/django", "script": os.path.join(django, "django_site.wsgi")}]}),
                "venv": pool("venv", **{
                    "python-home": self.venv,
                    "apps": [{"mount": "/venv/main", "script": probe, "application-group": "%{GLOBAL}"},
                             {"mount": "/venv/sub", "script": probe}]}),
                "novenv": pool("novenv", apps=[{"mount": "/venv/sub", "script": probe}]),
            },
        }
        self.sup = Supervisor(self.scratch, self.config)
        on_close(self.sup.kill)
        self.on_close = on_close
        self.frontends = {}  # (column, pool) -> frontend

    def frontend(self, column, pool):
        """The frontend of VARIANTS' `column` in front of `pool`, started once."""
        key = (column, pool)
        if key not in self.frontends:
            _, frontend, example, _ = next(v for v in VARIANTS if v[0] == column)
            name = f"{column.replace('/', '-')}-{pool}"
            f = start_frontend(self.scratch, frontend, example, self.sup.listen_of(pool), name=name)
            self.on_close(f.kill)
            self.frontends[key] = f
        return self.frontends[key]

    def explain(self, what, frontend=None):
        out = f"{what}\n--- wsgi-fpm stderr:\n{self.sup.stderr_tail()}"
        if frontend is not None:
            out += f"\n--- {frontend.name} error log:\n{frontend.error_tail()}"
        return out


# --------------------------------------------------------------------------
# The path table

POOL_404 = b"404 Not Found\n"  # wsgi-fpm's own answer for a path under no mount


def observe(resp):
    """What came back: {"status", "by"} with "by" one of app (echo.wsgi
    answered; then also its variables), pool (wsgi-fpm's 404) or frontend."""
    if resp.status == 200:
        try:
            e = json.loads(resp.body)
        except ValueError:
            return {"status": 200, "by": f"not JSON: {resp.body[:80]!r}"}
        return {"status": 200, "by": "app", "SCRIPT_NAME": e["SCRIPT_NAME"], "PATH_INFO": e["PATH_INFO"],
                "QUERY_STRING": e["QUERY_STRING"], "REQUEST_METHOD": e["REQUEST_METHOD"],
                "CONTENT_LENGTH": e["CONTENT_LENGTH"], "body": e["body_length"]}
    return {"status": resp.status, "by": "pool" if resp.body == POOL_404 else "frontend"}


SPLIT = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD", "body")


def expected(row, column):
    """What the row should give in the column, CONTENT_LENGTH aside."""
    label, method, target, body, chunked, want = row
    if (label, column) in FRONTEND_ANSWERS:
        return {"status": FRONTEND_ANSWERS[(label, column)][0], "by": "frontend"}
    if want == NOT_FOUND:
        return {"status": 404, "by": "pool"}
    return dict(zip(("status", "by") + SPLIT, (200, "app", *want, method, len(body or b""))))


def without_length(obs):
    return {k: v for k, v in obs.items() if k != "CONTENT_LENGTH"}


def direct(stack, method, target, body):
    """The request straight to the FastCGI pool, as a frontend that passes
    REQUEST_URI and nothing else useful would send it."""
    uri = target.encode("utf-8").decode("latin-1")
    params = {"CONTENT_TYPE": "application/x-www-form-urlencoded"} if body else {}
    return fcgi_request(stack.sup.listen_of("paths"), uri, method=method, body=body or b"",
                        params=params)


def through(stack, column, method, target, body, chunked):
    pool = "paths-scgi" if column.endswith("scgi") else "paths"
    f = stack.frontend(column, pool)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    return http_request(f.port, target, method=method, body=body, chunked=chunked, headers=headers)


COLUMNS = ["direct"] + [v[0] for v in VARIANTS]
_table = {}


def path_table(stack):
    """Every row through every column (and straight to the pool), once:
    {(label, column): observation}; printed to stderr."""
    if _table:
        return _table
    for label, method, target, body, chunked, _ in ROWS:
        _table[(label, "direct")] = observe(direct(stack, method, target, body))
        for column, *_ in VARIANTS:
            try:
                _table[(label, column)] = observe(through(stack, column, method, target, body, chunked))
            except (OSError, AssertionError) as e:
                _table[(label, column)] = {"status": None, "by": f"error: {e}"}
    print_table(_table)
    return _table


def cell(obs, want):
    """'=' for the expected answer from the app; '404' for wsgi-fpm's 404;
    'NNN by frontend' for the frontend's own answer; '!' marks the unexpected."""
    if obs["by"] == "app":
        diffs = [f"{k}={obs.get(k)!r}" for k in ("status", "by") + SPLIT if obs.get(k) != want.get(k)]
        return "=" if not diffs else "! " + " ".join(diffs)
    shown = {"pool": str(obs["status"]), "frontend": f"{obs['status']} by frontend"}.get(
        obs["by"], f"{obs['status']} {obs['by']}")
    return shown if obs == want else f"{shown} !"


def _columns(head, rows):
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    return ["  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip() for r in [head] + rows]


def print_table(table):
    out = ["", "# The path table: what echo.wsgi (mounted at /app and /app/sub) saw of each request.",
           "# '=' is the expected SCRIPT_NAME, PATH_INFO, QUERY_STRING, REQUEST_METHOD and body;",
           "# '404' is wsgi-fpm's answer for a path under no mount; 'NNN by frontend' the",
           "# frontend's own answer (see the notes); a '!' marks what was not expected.",
           "# 'direct' is a bare FastCGI request with REQUEST_URI only (no frontend).", ""]
    rows = []
    for i, row in enumerate(ROWS, 1):
        label, method, target, body, chunked, want = row
        shown = f"{method} {target}" + (" chunked" if chunked else "") + (f" [{len(body)} B]" if body else "")
        exp = ["(404)", "", ""] if want == NOT_FOUND else [repr(x) for x in want]
        cells = [cell(table[(label, c)], expected(row, c)) for c in COLUMNS]
        rows.append([str(i), label, shown, *exp, *cells])
    out += _columns(["#", "what", "request", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING"] + COLUMNS, rows)
    out += ["", "# CONTENT_LENGTH as the application saw it ('-' absent, (NNN) no answer from the app):", ""]
    rows = []
    for i, (label, method, target, body, chunked, want) in enumerate(ROWS, 1):
        vals = []
        for c in COLUMNS:
            obs = table[(label, c)]
            if obs["by"] != "app":
                vals.append(f"({obs['status']})")
            else:
                vals.append("-" if obs["CONTENT_LENGTH"] is None else repr(obs["CONTENT_LENGTH"]))
        rows.append([str(i), f"{method} {target}", *vals])
    out += _columns(["#", "request"] + COLUMNS, rows)
    out += ["", "# Frontends answering themselves:"]
    out += [f"#   {label} via {col}: {status} - {why}"
            for (label, col), (status, why) in FRONTEND_ANSWERS.items()]
    out += ["#   The Apache examples set AllowEncodedSlashes NoDecode, as a site with such URLs",
            "#   must: with Apache's default (Off) Apache itself answers 404 to /app/a%2Fb."]
    print("\n".join(out) + "\n", file=sys.stderr, flush=True)


def paths_split_the_same_everywhere(fx):
    """Each of the 20 requests gives the expected SCRIPT_NAME, PATH_INFO,
    QUERY_STRING, REQUEST_METHOD and body behind every frontend and straight
    to the pool, or the frontend's own answer where FRONTEND_ANSWERS says so."""
    stack = fx.get()
    table = path_table(stack)
    bad = []
    for row in ROWS:
        for column in COLUMNS:
            got, want = without_length(table[(row[0], column)]), expected(row, column)
            if got != want:
                bad.append(f"{row[2]} {row[1]!r} via {column}: expected {want}, got {got}")
    if bad:
        raise AssertionError(f"{len(bad)} of {len(ROWS) * len(COLUMNS)} differ: " + "; ".join(bad))


def content_length_the_same_everywhere(fx):
    """CONTENT_LENGTH as the application sees it is the same behind every
    frontend for each request, and the body's length when there is a body."""
    stack = fx.get()
    table = path_table(stack)
    bad = []
    for label, method, target, body, chunked, want in ROWS:
        seen = {}
        for column, *_ in VARIANTS:
            obs = table[(label, column)]
            if obs["by"] == "app":
                seen.setdefault(obs["CONTENT_LENGTH"], []).append(column)
        if body is not None and set(seen) != {str(len(body))}:
            bad.append(f"{method} {target} with {len(body)} bytes: {seen}")
        elif len(seen) > 1:
            ways = ", ".join(f"{v!r} via {' '.join(c)}" for v, c in seen.items())
            bad.append(f"{method} {target}: {ways}")
    if bad:
        raise AssertionError(f"CONTENT_LENGTH differs by frontend in {len(bad)} of {len(ROWS)} requests: "
                             + "; ".join(bad))


# --------------------------------------------------------------------------
# An application that never reads its input

GREETING = b"Hello from wsgi-fpm!\n"
IGNORED = os.urandom(256 * 1024)


def app_that_ignores_its_input(fx, column):
    """Most GET handlers never touch wsgi.input, and some POST handlers answer
    without reading the body. 100 GETs one after another, then 10 POSTs of
    256 KiB the app ignores: every one a 200 with the greeting, whatever the
    frontend was still sending when the app had answered."""
    stack = fx.get()
    f = stack.frontend(column, "paths-scgi" if column.endswith("scgi") else "paths")
    failed = []
    for i in range(110):
        body = IGNORED if i >= 100 else None
        resp = http_request(f.port, "/app/hello", method="POST" if body else "GET", body=body)
        if (resp.status, resp.body) != (200, GREETING):
            failed.append(f"{'POST 256 KiB' if body else 'GET'} #{i}: {resp.status}")
    if failed:
        raise AssertionError(stack.explain(f"{len(failed)} of 110 requests failed via {f.name}: "
                                           f"{', '.join(failed[:8])}", f))


# --------------------------------------------------------------------------
# Flask and Django side by side


# The Host a browser sends to a site on port 80. Debian's nginx passes
# HTTP_HOST as $host, which drops the port, so on the test's own port the
# frameworks would build absolute URLs without it behind nginx alone.
HOST = "hello.example.com"


def fetch(f, path):
    return http_request(f.port, path, headers={"Host": HOST})


def get_json(stack, f, path, what):
    resp = fetch(f, path)
    if resp.status != 200:
        raise AssertionError(stack.explain(f"{what}: GET {path} via {f.name}: {resp!r}", f))
    try:
        return json.loads(resp.body)
    except ValueError:
        raise AssertionError(f"{what}: GET {path} via {f.name}: not JSON: {resp.body[:300]!r}") from None


def flask_urls_include_the_mount(fx, column):
    """Flask at /flask: url_for gives /flask/..., and the URL it builds works."""
    stack = fx.get()
    f = stack.frontend(column, "frameworks")
    got = get_json(stack, f, "/flask/", "flask index")
    want = {"index": "/flask/", "hello": "/flask/hello/w%C3%B6rld",
            "hello_external": f"http://{HOST}/flask/hello/x", "script_root": "/flask", "path": "/",
            "url": f"http://{HOST}/flask/"}
    if {k: got.get(k) for k in want} != want:
        raise AssertionError(f"via {f.name}: expected {want}, got {got}")
    resp = fetch(f, got["hello"])
    if (resp.status, resp.body) != (200, "Hello, w\u00f6rld!\n".encode()):
        raise AssertionError(stack.explain(f"GET {got['hello']} via {f.name}: {resp!r}", f))


def django_urls_include_the_mount(fx, column):
    """Django at /django: reverse() gives /django/..., the admin's login page
    is a 200 whose form posts to /django/admin/login/ and whose stylesheets
    are under /django/static/."""
    stack = fx.get()
    f = stack.frontend(column, "frameworks")
    got = get_json(stack, f, "/django/", "django index")
    want = {"index": "/django/", "hello": "/django/hello/w%C3%B6rld/", "admin_login": "/django/admin/login/",
            "hello_absolute": f"http://{HOST}/django/hello/x/", "path": "/django/", "path_info": "/",
            "script_name": "/django"}
    if {k: got.get(k) for k in want} != want:
        raise AssertionError(f"via {f.name}: expected {want}, got {got}")
    resp = fetch(f, got["hello"])
    if (resp.status, resp.body) != (200, "Hello, w\u00f6rld!\n".encode()):
        raise AssertionError(stack.explain(f"GET {got['hello']} via {f.name}: {resp!r}", f))
    resp = fetch(f, "/django/admin/login/?next=/django/admin/")
    page = resp.body.decode("utf-8", "replace")
    if resp.status != 200:
        raise AssertionError(stack.explain(f"GET /django/admin/login/ via {f.name}: {resp!r}", f))
    if not re.search(r'<form[^>]*action="/django/admin/login/\?next=/django/admin/"', page):
        raise AssertionError(f"via {f.name}: the login form does not post to /django/admin/login/: "
                             f"{re.findall(r'<form[^>]*>', page)}")
    if "/django/static/admin/css/" not in page:
        raise AssertionError(f"via {f.name}: no stylesheet under /django/static/ in the login page")
    resp = fetch(f, "/django/admin/")
    if resp.status != 302 or not (resp.header("Location") or "").startswith("/django/admin/login/"):
        raise AssertionError(f"via {f.name}: GET /django/admin/ should redirect to the login page "
                             f"under /django, got {resp.status} Location {resp.header('Location')!r}")


# --------------------------------------------------------------------------
# A virtualenv's package


def venv_package_imports(fx, column):
    """python-home: the venv's own package imports, in the main interpreter
    and in a sub-interpreter; sys.prefix is the venv; the system's flask
    (--system-site-packages) still imports."""
    stack = fx.get()
    f = stack.frontend(column, "venv")
    for path in ("/venv/main", "/venv/sub"):
        got = get_json(stack, f, path, "venv probe")
        where = (got["venv_only"] or {}).get("file") or ""
        if not where.startswith(stack.venv_site + "/"):
            raise AssertionError(f"GET {path} via {f.name}: wfpm_venv_only {got['venv_only']}, expected it "
                                 f"from {stack.venv_site} (sys.prefix {got['prefix']!r})")
        if got["prefix"] != stack.venv:
            raise AssertionError(f"GET {path} via {f.name}: sys.prefix {got['prefix']!r}, "
                                 f"expected {stack.venv!r}")
        if "error" in got["flask"]:
            raise AssertionError(f"GET {path} via {f.name}: the system's flask does not import: "
                                 f"{got['flask']}")


def package_is_the_venvs_alone(fx):
    """Without python-home the same probe cannot import the package."""
    stack = fx.get()
    resp = fcgi_request(stack.sup.listen_of("novenv"), "/venv/sub")
    got = json.loads(resp.body)
    if "error" not in got["venv_only"] or got["prefix"] == stack.venv:
        raise AssertionError(f"without python-home: {got}")


def main():
    runner = Runner(budget=170)
    fx = Group(Stack)
    runner.add("frontends/paths_split_the_same_everywhere", paths_split_the_same_everywhere, fx)
    runner.add("frontends/content_length_the_same_everywhere", content_length_the_same_everywhere, fx)
    for column, *_ in VARIANTS:
        runner.add(f"frontends/{column}/app_that_ignores_its_input", app_that_ignores_its_input, fx, column)
    for column, *_ in SITES:
        for name, fn in (("flask_urls_include_the_mount", flask_urls_include_the_mount),
                         ("django_urls_include_the_mount", django_urls_include_the_mount)):
            runner.add(f"frontends/{column}/{name}", fn, fx, column)
    for column, *_ in SITES:
        runner.add(f"frontends/{column}/venv_package_imports", venv_package_imports, fx, column)
    runner.add("frontends/package_is_the_venvs_alone", package_is_the_venvs_alone, fx)
    runner.main()


if __name__ == "__main__":
    main()
