"""One application, three frontends (issue #4): the same requests through
Apache 2.4 (mod_proxy_fcgi, mod_proxy_scgi), lighttpd (fastcgi.server,
scgi.server) and nginx (fastcgi_pass, scgi_pass) reach a wsgi-fpm pool, and
the application sees the same thing behind each. Every frontend runs an
example of etc/apache, etc/lighttpd or etc/nginx as shipped, with only its
address, socket and document root replaced.

Pools (one supervisor, all as the user wfpm-test, sockets owned by www-data,
which all three frontends run as):
  paths       FastCGI: tests/apps/frontends/echo.wsgi at /app and at /app/sub
  paths-scgi  the same over SCGI
  frameworks  Flask (tests/apps/flask_app) at /flask and Django
              (tests/apps/django_site) at /django, each in its own
              sub-interpreter; python-path and DJANGO_SETTINGS_MODULE as a
              Django deployment sets them
  venv        python-home: a virtualenv the test makes with
              `python3.11 -m venv --system-site-packages` and drops a package
              into by hand; venv_probe.wsgi at /venv/main (%{GLOBAL}) and
              /venv/sub (its own sub-interpreter)
  novenv      the same probe without python-home, to show the package is the
              venv's alone

The path table (20 awkward requests x every frontend) goes to stderr.
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402

import harness as h  # noqa: E402

# (column, frontend, example, protocol): the path table's columns. The first
# three of each frontend's FastCGI ones send the whole site to the pool.
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
    ("encoded dot-dot out of it", "apache/app"): (404, "Apache resolves it to /x, outside <Location /app>: its own 404"),
    ("encoded dot-dot out of it", "lighttpd/app"): (404, "lighttpd resolves it to /x, outside \"/app\": its own 404"),
}


def echo_apps(d):
    return [{"mount": "/app", "script": os.path.join(d, "echo.wsgi")},
            {"mount": "/app/sub", "script": os.path.join(d, "echo.wsgi")}]


def make_venv(scratch):
    """A virtualenv as a user makes one (no pip: --without-pip), seeing the
    system's packages, plus a package only it has, dropped in by hand."""
    venv = scratch.file("venv")
    r = subprocess.run(["/usr/bin/python3.11", "-m", "venv", "--system-site-packages", "--without-pip",
                        venv], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"python3.11 -m venv: exit {r.returncode}: {r.stderr}")
    site = os.path.join(venv, "lib", "python3.11", "site-packages")
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
        h.ensure_user()
        self.scratch = h.Scratch(prefix="wfpm-frontends-")
        apps = h.install_tree(self.scratch, "frontends")
        flask = h.install_tree(self.scratch, "flask_app")
        django = h.install_tree(self.scratch, "django_site")
        self.venv, self.venv_site = make_venv(self.scratch)
        run = self.scratch.sub("run")
        common = {"user": h.TEST_USER, "socket-user": h.FRONTEND_USER, "threads": 4, "home": apps}

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
        self.sup = h.Supervisor(self.scratch, self.config)
        on_close(self.sup.kill)
        self.on_close = on_close
        self.frontends = {}  # (column, pool) -> frontend

    def frontend(self, column, pool):
        """The frontend of VARIANTS' `column` in front of `pool`, started once."""
        key = (column, pool)
        if key not in self.frontends:
            _, frontend, example, _ = next(v for v in VARIANTS if v[0] == column)
            name = f"{column.replace('/', '-')}-{pool}"
            f = h.start_frontend(self.scratch, frontend, example, self.sup.listen_of(pool), name=name)
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


def observe(resp):
    """(status, SCRIPT_NAME, PATH_INFO, QUERY_STRING, REQUEST_METHOD,
    CONTENT_LENGTH, body length) of an echo.wsgi answer; non-200: status only."""
    if resp.status != 200:
        return (resp.status,)
    try:
        e = json.loads(resp.body)
    except ValueError:
        return (resp.status, f"not JSON: {resp.body[:80]!r}")
    return (200, e["SCRIPT_NAME"], e["PATH_INFO"], e["QUERY_STRING"], e["REQUEST_METHOD"],
            e["CONTENT_LENGTH"], e["body_length"])


def direct(stack, method, target, body):
    """The request straight to the FastCGI pool, as a frontend that passes
    REQUEST_URI and nothing else useful would send it."""
    uri = target.encode("utf-8").decode("latin-1")
    params = {"CONTENT_TYPE": "application/x-www-form-urlencoded"} if body else {}
    return h.fcgi_request(stack.sup.listen_of("paths"), uri, method=method, body=body or b"",
                          params=params)


def through(stack, column, method, target, body, chunked):
    pool = "paths-scgi" if column.endswith("scgi") else "paths"
    f = stack.frontend(column, pool)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    return h.raw_http(f.port, target, method=method, body=body, chunked=chunked, headers=headers)


_table = {}


def path_table(stack):
    """Every row through every column (and straight to the pool), once:
    {(label, column): observation}."""
    if _table:
        return _table
    for label, method, target, body, chunked, _ in ROWS:
        _table[(label, "direct")] = observe(direct(stack, method, target, body))
        for column, *_ in VARIANTS:
            try:
                _table[(label, column)] = observe(through(stack, column, method, target, body, chunked))
            except (OSError, AssertionError) as e:
                _table[(label, column)] = (f"error: {e}",)
    print_table(_table)
    return _table


def want_of(row):
    label, method, target, body, chunked, expected = row
    if expected == NOT_FOUND:
        return NOT_FOUND
    return (200, *expected, method, len(body or b""))


def cell(obs, want):
    """What the table shows: '=' for the expected answer, else what came."""
    if obs == NOT_FOUND and want == NOT_FOUND:
        return "404"
    if len(obs) == 1 or len(want) == 1:
        return str(obs[0])
    names = ("status", "SN", "PI", "QS", "method", None, "body")
    diffs = [f"{n}={o!r}" for n, o, w in zip(names, obs, want) if n and o != w]
    return "=" if not diffs else " ".join(diffs)


def print_table(table):
    cols = ["direct"] + [v[0] for v in VARIANTS]
    out = ["", "# The path table: what echo.wsgi saw. '=' is the expected SCRIPT_NAME, PATH_INFO,",
           "# QUERY_STRING, REQUEST_METHOD and body; '404' a path under no mount; anything else",
           "# is printed. 'direct' is a bare FastCGI request with only REQUEST_URI to go by.", ""]
    head = ["#", "request", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING"] + cols
    rows = []
    for i, row in enumerate(ROWS, 1):
        label, method, target, body, chunked, expected = row
        shown = f"{method} {target}" + (" (chunked)" if chunked else "") + (f" [{len(body)} B]" if body else "")
        exp = ["404 (none)", "", ""] if expected == NOT_FOUND else [repr(x) for x in expected]
        rows.append([str(i), shown, *exp, *(cell(table[(label, c)], want_of(row)) for c in cols)])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
    for r in [head] + rows:
        out.append("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
    out += ["", "# CONTENT_LENGTH as the application saw it (- for absent):"]
    head2 = ["#", "request"] + cols
    rows2 = []
    for i, (label, method, target, body, chunked, expected) in enumerate(ROWS, 1):
        vals = []
        for c in cols:
            obs = table[(label, c)]
            vals.append(("-" if obs[5] is None else repr(obs[5])) if len(obs) > 1 else f"({obs[0]})")
        rows2.append([str(i), f"{method} {target}", *vals])
    widths = [max(len(r[i]) for r in [head2] + rows2) for i in range(len(head2))]
    for r in [head2] + rows2:
        out.append("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
    notes = [f"#   {label} / {col}: {why}" for (label, col), (_, why) in FRONTEND_ANSWERS.items()]
    if notes:
        out += ["", "# Frontends answering themselves:"] + notes
    print("\n".join(out) + "\n", file=sys.stderr, flush=True)


def paths_split_the_same_everywhere(fx):
    """Each of the 20 requests gives the expected SCRIPT_NAME, PATH_INFO,
    QUERY_STRING, REQUEST_METHOD and body behind every frontend (or the
    frontend's own answer where FRONTEND_ANSWERS says so)."""
    stack = fx.get()
    table = path_table(stack)
    bad = []
    for row in ROWS:
        label, want = row[0], want_of(row)
        for column in ["direct"] + [v[0] for v in VARIANTS]:
            obs = table[(label, column)]
            expected = FRONTEND_ANSWERS.get((label, column), (None,))[:1] if (label, column) in FRONTEND_ANSWERS else want
            got = obs if len(expected) == 1 else obs[:5] + obs[6:]
            exp = expected if len(expected) == 1 else expected[:5] + expected[6:]
            if got != exp:
                bad.append(f"{label} via {column}: expected {exp}, got {got}")
    if bad:
        raise AssertionError(f"{len(bad)} cells differ: " + "; ".join(bad))


def content_length_the_same_everywhere(fx):
    """CONTENT_LENGTH as the application sees it is the same behind every
    frontend for each request: the body's length when there is a body."""
    stack = fx.get()
    table = path_table(stack)
    bad = []
    for label, method, target, body, chunked, expected in ROWS:
        seen = {}
        for column in [v[0] for v in VARIANTS]:
            obs = table[(label, column)]
            if len(obs) > 1:
                seen.setdefault(obs[5], []).append(column)
        if body is not None and set(seen) != {str(len(body))}:
            bad.append(f"{method} {target} with {len(body)} bytes: {seen}")
        elif len(seen) > 1:
            bad.append(f"{method} {target}: {seen}")
    if bad:
        raise AssertionError(f"CONTENT_LENGTH differs by frontend: " + "; ".join(bad))


# --------------------------------------------------------------------------
# Flask and Django side by side


def get_json(stack, f, path, what):
    resp = h.raw_http(f.port, path)
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
    host = f"127.0.0.1:{f.port}"
    want = {"index": "/flask/", "hello": "/flask/hello/w%C3%B6rld",
            "hello_external": f"http://{host}/flask/hello/x", "script_root": "/flask", "path": "/"}
    if {k: got.get(k) for k in want} != want:
        raise AssertionError(f"via {f.name}: expected {want}, got {got}")
    resp = h.raw_http(f.port, got["hello"])
    if (resp.status, resp.body) != (200, "Hello, w\u00f6rld!\n".encode()):
        raise AssertionError(stack.explain(f"GET {got['hello']} via {f.name}: {resp!r}", f))


def django_urls_include_the_mount(fx, column):
    """Django at /django: reverse() gives /django/..., the admin's login page
    is a 200 whose form posts to /django/admin/login/ and whose stylesheets
    are under /django/static/."""
    stack = fx.get()
    f = stack.frontend(column, "frameworks")
    got = get_json(stack, f, "/django/", "django index")
    host = f"127.0.0.1:{f.port}"
    want = {"index": "/django/", "hello": "/django/hello/w%C3%B6rld/", "admin_login": "/django/admin/login/",
            "hello_absolute": f"http://{host}/django/hello/x/", "path": "/django/", "path_info": "/",
            "script_name": "/django"}
    if {k: got.get(k) for k in want} != want:
        raise AssertionError(f"via {f.name}: expected {want}, got {got}")
    resp = h.raw_http(f.port, got["hello"])
    if (resp.status, resp.body) != (200, "Hello, w\u00f6rld!\n".encode()):
        raise AssertionError(stack.explain(f"GET {got['hello']} via {f.name}: {resp!r}", f))
    resp = h.raw_http(f.port, "/django/admin/login/?next=/django/admin/")
    page = resp.body.decode("utf-8", "replace")
    if resp.status != 200:
        raise AssertionError(stack.explain(f"GET /django/admin/login/ via {f.name}: {resp!r}", f))
    if not re.search(r'<form[^>]*action="/django/admin/login/\?next=/django/admin/"', page):
        raise AssertionError(f"via {f.name}: the login form does not post to /django/admin/login/: "
                             f"{re.findall(r'<form[^>]*>', page)}")
    if "/django/static/admin/css/" not in page:
        raise AssertionError(f"via {f.name}: no stylesheet under /django/static/ in the login page")
    resp = h.raw_http(f.port, "/django/admin/")
    if resp.status != 302 or not (resp.header("Location") or "").startswith("/django/admin/login/"):
        raise AssertionError(f"via {f.name}: GET /django/admin/ should redirect to the login page "
                             f"under /django, got {resp.status} Location {resp.header('Location')!r}")


def flask_and_django_in_their_own_interpreters(fx):
    """The two frameworks share one pool and one process but not their modules:
    each loads in its own sub-interpreter (their default %{RESOURCE} groups)."""
    stack = fx.get()
    f = stack.frontend("nginx", "frameworks")
    for path, want in (("/flask/", f"127.0.0.1:{f.port}|/flask"), ("/django/", f"127.0.0.1:{f.port}|/django")):
        pass  # the group names are checked in test_app_groups.py; here: both answer after each other
    for _ in range(3):
        for path in ("/flask/", "/django/", "/django/admin/login/"):
            resp = h.raw_http(f.port, path)
            if resp.status != 200:
                raise AssertionError(stack.explain(f"GET {path} via {f.name} (alternating): {resp!r}", f))


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
            raise AssertionError(f"GET {path} via {f.name}: sys.prefix {got['prefix']!r}, expected {stack.venv!r}")
        if "error" in got["flask"]:
            raise AssertionError(f"GET {path} via {f.name}: the system's flask does not import: {got['flask']}")


def package_is_the_venvs_alone(fx):
    """Without python-home the same probe cannot import the package."""
    stack = fx.get()
    resp = h.fcgi_request(stack.sup.listen_of("novenv"), "/venv/sub")
    got = json.loads(resp.body)
    if "error" not in got["venv_only"] or got["prefix"] == stack.venv:
        raise AssertionError(f"without python-home: {got}")


def main():
    runner = h.Runner(budget=170)
    fx = h.Group(Stack)
    runner.add("frontends/paths_split_the_same_everywhere", paths_split_the_same_everywhere, fx)
    runner.add("frontends/content_length_the_same_everywhere", content_length_the_same_everywhere, fx)
    for column, *_ in SITES:
        runner.add(f"frontends/{column}/flask_urls_include_the_mount", flask_urls_include_the_mount, fx, column)
        runner.add(f"frontends/{column}/django_urls_include_the_mount", django_urls_include_the_mount, fx, column)
    runner.add("frontends/flask_and_django_in_their_own_interpreters",
               flask_and_django_in_their_own_interpreters, fx)
    for column, *_ in SITES:
        runner.add(f"frontends/{column}/venv_package_imports", venv_package_imports, fx, column)
    runner.add("frontends/package_is_the_venvs_alone", package_is_the_venvs_alone, fx)
    runner.main()


if __name__ == "__main__":
    main()
