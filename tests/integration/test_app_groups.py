"""Application groups behind Apache, lighttpd and nginx: which Python
(sub-)interpreter runs an app, and its name in mod_wsgi.application_group,
as mod_wsgi's WSGIApplicationGroup would have them. Every frontend runs the
whole-site FastCGI example of etc/apache, etc/lighttpd or etc/nginx as
shipped, with only its address, socket and document root replaced.

Pools (one supervisor; user wfpm-test, sockets owned by www-data):
  sites   tests/apps/sites/one and .../two at /one and /two, each a site whose
          script puts its own directory on sys.path and does `import config`;
          default group %{RESOURCE}, 2 processes x 4 threads
  shared  the same two sites, both in %{GLOBAL}, one process
  groups  tests/apps/frontends/echo.wsgi under every kind of group name:
          /server %{SERVER}, /host %{HOST}, /resource and / %{RESOURCE},
          /fixed and /fixed2 "tenant-fixed", /global %{GLOBAL},
          /env %{ENV:WFPM_GROUP}, /envpool %{ENV:WFPM_POOL_GROUP} (set in the
          pool's environment), /envunset %{ENV:WFPM_UNSET}
          (and the ids of wsgi.input's, wsgi.errors' and wsgi.file_wrapper's
          types, which each interpreter has its own of)
and, on a supervisor of its own, atexit.wsgi in %{GLOBAL} and in a
sub-interpreter, stopped gracefully.

mod_wsgi's names (wsgi_application_group() in mod_wsgi.c), with PORT added
as ":PORT" unless it is 80 or 443:
  %{SERVER}    ServerName[:PORT]                  here: SERVER_NAME[:SERVER_PORT]
  %{HOST}      Host name, lowercased[:PORT]       here: HTTP_HOST's name[:SERVER_PORT]
  %{RESOURCE}  %{SERVER}|SCRIPT_NAME              ('' for a mount at /)
  %{ENV:X}     X from the request's variables (SetEnv), else from the
               process environment; unset: the literal "%{ENV:X}" (a named
               group); a value such as "%{SERVER}" is expanded in turn
  %{GLOBAL}    '' (the main interpreter)
  other        the string itself
"""
import sys

sys.dont_write_bytecode = True

import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402

from support.clients import fcgi_request, http_request  # noqa: E402
from support.files import Scratch, install_tree  # noqa: E402
from support.frontends import start_frontend  # noqa: E402
from support.runner import Group, Runner  # noqa: E402
from support.supervisor import Supervisor  # noqa: E402
from support.users import FRONTEND_USER, TEST_USER, ensure_user  # noqa: E402

FRONTENDS = [("apache", "wsgi-fpm-fastcgi.conf"), ("lighttpd", "wsgi-fpm-fastcgi.conf"),
             ("nginx", "wsgi-fpm-fastcgi.conf")]
ALTERNATING = 500
GROUP_APPS = [  # (mount, application-group)
    ("/server", "%{SERVER}"), ("/host", "%{HOST}"), ("/resource", "%{RESOURCE}"), ("/", "%{RESOURCE}"),
    ("/fixed", "tenant-fixed"), ("/fixed2", "tenant-fixed"), ("/global", "%{GLOBAL}"),
    ("/env", "%{ENV:WFPM_GROUP}"), ("/envpool", "%{ENV:WFPM_POOL_GROUP}"), ("/envunset", "%{ENV:WFPM_UNSET}"),
]


class Stack:
    def __init__(self, on_close):
        ensure_user()
        self.scratch = Scratch(prefix="wfpm-groups-")
        sites = install_tree(self.scratch, "sites")
        apps = install_tree(self.scratch, "frontends")
        run = self.scratch.sub("run")

        def pool(name, **keys):
            p = {"user": TEST_USER, "socket-user": FRONTEND_USER, "threads": 4, "home": apps,
                 "listen": os.path.join(run, f"{name}.sock")}
            p.update(keys)
            return p

        def two_sites(group=None):
            out = []
            for name in ("one", "two"):
                app = {"mount": f"/{name}", "script": os.path.join(sites, name, "site.wsgi")}
                if group:
                    app["application-group"] = group
                out.append(app)
            return out

        echo = os.path.join(apps, "echo.wsgi")
        self.config = {
            "runtime-dir": self.scratch.file("runtime"),
            "log": "stderr",
            "pools": {
                "sites": pool("sites", processes=2, apps=two_sites()),
                "shared": pool("shared", apps=two_sites("%{GLOBAL}")),
                "groups": pool("groups", environment={"WFPM_POOL_GROUP": "from-the-pool"},
                               apps=[{"mount": m, "script": echo, "application-group": g}
                                     for m, g in GROUP_APPS]),
            },
        }
        self.sup = Supervisor(self.scratch, self.config)
        on_close(self.sup.kill)
        self.on_close = on_close
        self.frontends = {}

    def frontend(self, frontend, pool):
        key = (frontend, pool)
        if key not in self.frontends:
            example = dict(FRONTENDS)[frontend]
            f = start_frontend(self.scratch, frontend, example, self.sup.listen_of(pool),
                               name=f"{frontend}-{pool}")
            self.on_close(f.kill)
            self.frontends[key] = f
        return self.frontends[key]

    def explain(self, what, f=None):
        out = f"{what}\n--- wsgi-fpm stderr:\n{self.sup.stderr_tail()}"
        if f is not None:
            out += f"\n--- {f.name} error log:\n{f.error_tail()}"
        return out


def get_json(stack, f, path, headers=None):
    resp = http_request(f.port, path, headers=headers)
    if resp.status != 200:
        raise AssertionError(stack.explain(f"GET {path} via {f.name}: {resp!r}", f))
    return json.loads(resp.body)


def direct_json(stack, pool, uri, params=None):
    resp = fcgi_request(stack.sup.listen_of(pool), uri, params=params)
    if resp.status != 200:
        raise AssertionError(stack.explain(f"GET {uri} straight to {pool}: {resp!r}"))
    return json.loads(resp.body)


# --------------------------------------------------------------------------
# mod_wsgi's names, computed from what the frontend passed


def with_port(name, port):
    return name if port in ("80", "443") else f"{name}:{port}"


def host_name(http_host):
    """The Host header's name part, lowercased, as Apache's r->hostname is."""
    if http_host.startswith("["):
        return http_host[:http_host.index("]") + 1].lower()
    return http_host.rpartition(":")[0].lower() if ":" in http_host else http_host.lower()


def mod_wsgi_name(pattern, mount, env, extra=None):
    """What mod_wsgi would call the group, given the request's variables."""
    variables = dict(env, **(extra or {}))
    server = with_port(env["SERVER_NAME"], env["SERVER_PORT"])
    if pattern == "%{GLOBAL}":
        return ""
    if pattern == "%{SERVER}":
        return server
    if pattern == "%{RESOURCE}":
        return f"{server}|{'' if mount == '/' else mount}"
    if pattern == "%{HOST}":
        return with_port(host_name(env.get("HTTP_HOST") or env["SERVER_NAME"]), env["SERVER_PORT"])
    if pattern.startswith("%{ENV:"):
        value = variables.get(pattern[6:-1])
        if value is None:
            return pattern
        if value.startswith("%") and not value.startswith("%{ENV:"):
            return mod_wsgi_name(value, mount, env, extra)
        return value
    return pattern


# --------------------------------------------------------------------------
# Two sites, each `import config`


def resource_sites_keep_their_own_config(fx, frontend):
    """%{RESOURCE}: 500 requests alternating /one and /two (4 client threads)
    each answer their own SITE_NAME, in groups SERVER|/one and SERVER|/two."""
    stack = fx.get()
    f = stack.frontend(frontend, "sites")
    answers, errors, pids = {}, [], set()
    lock = threading.Lock()

    def loop(offset):
        for i in range(offset, ALTERNATING, 4):
            site = ("one", "two")[i % 2]
            try:
                got = get_json(stack, f, f"/{site}/")
            except Exception as e:  # reported below
                with lock:
                    errors.append(f"request {i}: {e}")
                continue
            with lock:
                answers[i] = (site, got)
                pids.add(got["pid"])

    threads = [threading.Thread(target=loop, args=(k,), daemon=True) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise AssertionError(f"{len(errors)} of {ALTERNATING} failed: {errors[:3]}")
    wrong = [(i, site, got["site"]) for i, (site, got) in sorted(answers.items()) if got["site"] != site]
    if len(answers) != ALTERNATING or wrong:
        raise AssertionError(f"{len(answers)} answers; wrong site in {len(wrong)}: {wrong[:5]}")
    groups = {site: {got["group"] for s, got in answers.values() if s == site} for site in ("one", "two")}
    sample = answers[0][1]  # the SERVER part as the app's group shows it
    server = sample["group"].rpartition("|")[0]
    want = {"one": {f"{server}|/one"}, "two": {f"{server}|/two"}}
    if groups != want or not server.startswith("hello.example.com"):
        raise AssertionError(f"groups {groups}, expected {want} with the ServerName hello.example.com")
    print(f"# {frontend}: {ALTERNATING} alternating requests, all right, over processes {sorted(pids)}; "
          f"groups {sorted(groups['one'] | groups['two'])}", file=sys.stderr)


def global_sites_share_one_config(fx, frontend):
    """%{GLOBAL}: both sites run in the main interpreter and share its
    sys.modules, so the second finds the `config` the first imported: /two
    answers SITE_NAME "one", from sites/one/config.py (as under mod_wsgi)."""
    stack = fx.get()
    first = direct_json(stack, "shared", "/one/")  # whichever frontend runs first, /one loads first
    f = stack.frontend(frontend, "shared")
    one, two = get_json(stack, f, "/one/"), get_json(stack, f, "/two/")
    print(f"# {frontend}, %{{GLOBAL}}: /one -> {one['site']!r} from {one['config']}; "
          f"/two -> {two['site']!r} from {two['config']} (its own script: {two['script']})", file=sys.stderr)
    if first["site"] != "one" or (one["site"], two["site"]) != ("one", "one"):
        raise AssertionError(f"/one answered {one['site']!r}, /two {two['site']!r}: expected both 'one'")
    if two["config"] != one["config"] or not one["config"].endswith("/one/config.py"):
        raise AssertionError(f"/two's config is {two['config']}, expected /one's {one['config']}")
    if (one["group"], two["group"]) != ("", ""):
        raise AssertionError(f"groups {one['group']!r} and {two['group']!r}, expected '' for %{{GLOBAL}}")


# --------------------------------------------------------------------------
# Names


def named_as_mod_wsgi_names_them(fx, frontend):
    """Through the frontend, with a mixed-case Host: each app's
    mod_wsgi.application_group is mod_wsgi's name for its pattern, computed
    from the SERVER_NAME, SERVER_PORT and HTTP_HOST the frontend passed; apps
    with one name share an interpreter, different names never do."""
    stack = fx.get()
    f = stack.frontend(frontend, "groups")
    headers = {"Host": f"Groups.Example:{f.port}"}
    seen, bad = {}, []
    for mount, pattern in GROUP_APPS:
        if pattern.startswith("%{ENV:"):
            continue  # the frontends' examples set no variables: see env_* below
        path = mount if mount == "/" else mount + "/x"
        env = get_json(stack, f, path, headers=headers)
        want = mod_wsgi_name(pattern, mount, env)
        got = env["mod_wsgi.application_group"]
        seen[mount] = env
        print(f"# {frontend}: {pattern:12} at {mount:9} -> {got!r}"
              + ("" if got == want else f"  (mod_wsgi: {want!r})"), file=sys.stderr)
        if got != want:
            bad.append(f"{pattern} at {mount}: {got!r}, mod_wsgi names it {want!r} (SERVER_NAME "
                       f"{env['SERVER_NAME']!r}, SERVER_PORT {env['SERVER_PORT']!r}, "
                       f"HTTP_HOST {env['HTTP_HOST']!r})")
    by_group = {}
    for mount, env in seen.items():
        by_group.setdefault(env["mod_wsgi.application_group"], set()).add(env["interpreter"])
    tokens = [t for ts in by_group.values() for t in ts]
    if any(len(ts) != 1 for ts in by_group.values()) or len(set(tokens)) != len(tokens):
        bad.append(f"interpreters by group: {by_group}")
    if seen["/fixed"]["interpreter"] != seen["/fixed2"]["interpreter"]:
        bad.append("/fixed and /fixed2 (both tenant-fixed) run in different interpreters")
    if bad:
        raise AssertionError("; ".join(bad))


def canonical_name_ignores_the_host_header(fx, frontend):
    """With the examples' canonical server name (UseCanonicalName On,
    server.name, server_name), %{SERVER} and %{RESOURCE} stay one group
    whatever Host a client sends: no client can make a worker build a new
    sub-interpreter per Host header (under mod_wsgi, ServerName decides)."""
    stack = fx.get()
    f = stack.frontend(frontend, "groups")
    names = set()
    for i in range(5):
        env = get_json(stack, f, "/resource/x", headers={"Host": f"random-{i}.example:{f.port}"})
        names.add((env["mod_wsgi.application_group"], env["interpreter"]))
    if len(names) != 1:
        raise AssertionError(f"five Host headers gave {len(names)} groups: {sorted(names)}")


def server_and_host_on_ports_80_and_443(fx):
    """Straight to the pool, as a frontend on port 80 or 443 would send it:
    no ':PORT' in %{SERVER}, %{HOST} or %{RESOURCE}; %{HOST} is the Host
    header's name, lowercased, without its port."""
    stack = fx.get()
    bad = []
    for port in ("80", "443"):
        params = {"SERVER_NAME": "hello.example.com", "SERVER_PORT": port,
                  "HTTP_HOST": f"Groups.Example:{port}"}
        for mount, pattern in (("/server", "%{SERVER}"), ("/host", "%{HOST}"), ("/resource", "%{RESOURCE}"),
                               ("/", "%{RESOURCE}")):
            env = direct_json(stack, "groups", mount if mount == "/" else mount + "/x", params)
            want = {"%{SERVER}": "hello.example.com", "%{HOST}": "groups.example",
                    "%{RESOURCE}": f"hello.example.com|{'' if mount == '/' else mount}"}[pattern]
            if env["mod_wsgi.application_group"] != want:
                bad.append(f"port {port}, {pattern} at {mount}: {env['mod_wsgi.application_group']!r}, "
                           f"expected {want!r}")
    if bad:
        raise AssertionError("; ".join(bad))


def env_from_a_request_variable(fx):
    """%{ENV:WFPM_GROUP} with WFPM_GROUP among the request's variables (Apache
    SetEnv, nginx fastcgi_param, lighttpd setenv): that value names the group."""
    stack = fx.get()
    got = [direct_json(stack, "groups", "/env/x", {"WFPM_GROUP": name})
           for name in ("alpha", "beta", "alpha")]
    names = [g["mod_wsgi.application_group"] for g in got]
    if names != ["alpha", "beta", "alpha"]:
        raise AssertionError(f"groups {names}, expected ['alpha', 'beta', 'alpha']")
    if got[0]["interpreter"] != got[2]["interpreter"] or got[0]["interpreter"] == got[1]["interpreter"]:
        raise AssertionError("alpha twice should be one interpreter, beta another")


def env_naming_another_variable(fx):
    """mod_wsgi expands a value that is itself a pattern: WFPM_GROUP=%{SERVER}
    names the group as %{SERVER} would."""
    stack = fx.get()
    env = direct_json(stack, "groups", "/env/x",
                      {"WFPM_GROUP": "%{SERVER}", "SERVER_NAME": "hello.example.com", "SERVER_PORT": "8080"})
    if env["mod_wsgi.application_group"] != "hello.example.com:8080":
        raise AssertionError(f"WFPM_GROUP=%{{SERVER}} gave {env['mod_wsgi.application_group']!r}, "
                             f"mod_wsgi gives 'hello.example.com:8080'")


def env_from_the_pool_environment(fx):
    """%{ENV:WFPM_POOL_GROUP}, not among the request's variables but in the
    pool's `environment`: mod_wsgi falls back to the process environment
    (getenv), so the group is 'from-the-pool'."""
    stack = fx.get()
    env = direct_json(stack, "groups", "/envpool/x")
    if env["mod_wsgi.application_group"] != "from-the-pool":
        raise AssertionError(f"group {env['mod_wsgi.application_group']!r}, mod_wsgi gives 'from-the-pool' "
                             f"(WFPM_POOL_GROUP is set in the pool's environment)")


def env_unset_is_a_named_group(fx):
    """%{ENV:WFPM_UNSET} with the variable set nowhere: mod_wsgi keeps the
    pattern itself as a fixed name, a sub-interpreter of its own, never the
    main interpreter that %{GLOBAL} apps share."""
    stack = fx.get()
    unset = direct_json(stack, "groups", "/envunset/x")
    glob = direct_json(stack, "groups", "/global/x")
    in_main = unset["interpreter"] == glob["interpreter"]
    if unset["mod_wsgi.application_group"] != "%{ENV:WFPM_UNSET}" or in_main:
        raise AssertionError(f"group {unset['mod_wsgi.application_group']!r}"
                             f"{' (the main interpreter)' if in_main else ''}"
                             f"; mod_wsgi names it '%{{ENV:WFPM_UNSET}}', a sub-interpreter of its own")


# --------------------------------------------------------------------------
# atexit at a graceful stop

_atexit = {}


def groups_have_their_own_server_types(fx):
    """wsgi.input's, wsgi.errors' and wsgi.file_wrapper's types are made in
    each interpreter, not shared by all (a static type's reference count,
    touched from every interpreter, is what a GIL per interpreter cannot
    have): one process, three groups, three sets of types."""
    stack = fx.get()
    seen = {uri: direct_json(stack, "groups", uri) for uri in ("/global", "/fixed", "/resource")}
    pids = {r["pid"] for r in seen.values()}
    interpreters = {r["interpreter"] for r in seen.values()}
    if len(pids) != 1 or len(interpreters) != 3:
        raise AssertionError(f"expected one process and three interpreters: {seen}")
    ids = [i for r in seen.values() for i in r["server_types"]]
    if len(set(ids)) != len(ids):
        raise AssertionError(f"interpreters share the server's types: "
                             f"{ {u: r['server_types'] for u, r in seen.items()} }")


def atexit_run():
    """Once: a supervisor with atexit.wsgi at /global (%{GLOBAL}) and /sub
    (%{RESOURCE}); one request to each through nginx, then SIGTERM. Returns
    {mount: (marker path, whether it exists after the stop)} or raises."""
    if "error" in _atexit:
        raise AssertionError(f"(as for the first atexit test) {_atexit['error']}")
    if _atexit:
        return _atexit
    try:
        return _atexit_run()
    except Exception as e:
        _atexit["error"] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise


def _atexit_run():
    scratch = Scratch(prefix="wfpm-groups-atexit-")
    apps = install_tree(scratch, "frontends")
    script = os.path.join(apps, "atexit.wsgi")
    config = {"runtime-dir": scratch.file("runtime"), "log": "stderr", "pools": {"ax": {
        "user": TEST_USER, "socket-user": FRONTEND_USER, "threads": 2, "home": apps,
        "listen": os.path.join(scratch.sub("run"), "ax.sock"),
        "apps": [{"mount": "/global", "script": script, "application-group": "%{GLOBAL}"},
                 {"mount": "/sub", "script": script}]}}}
    sup = Supervisor(scratch, config)
    try:
        f = start_frontend(scratch, "nginx", "wsgi-fpm-fastcgi.conf", sup.listen_of("ax"), name="nginx-ax")
        markers = {}
        for mount in ("/global", "/sub"):
            resp = http_request(f.port, mount)
            if resp.status != 200:
                raise AssertionError(f"GET {mount}: {resp!r}\n{sup.stderr_tail()}")
            markers[mount] = json.loads(resp.body)["marker"]
        f.kill()
        workers = sup.workers()
        sup.send(signal.SIGTERM)
        rc = sup.wait(30)
        if rc is None:
            raise AssertionError(f"the supervisor still runs 30 s after SIGTERM:\n{sup.stderr_tail()}")
        left = [p for p in workers if os.path.exists(f"/proc/{p}")]
        if rc != 0 or left:
            raise AssertionError(f"exit status {rc}, workers left {left}:\n{sup.stderr_tail()}")
        _atexit.update({m: (p, os.path.exists(p)) for m, p in markers.items()})
        _atexit["log"] = sup.stderr_tail()
    finally:
        sup.kill()
    return _atexit


def atexit_runs_in_the_main_interpreter(fx):
    """A %{GLOBAL} app's atexit handler runs when the pool stops gracefully."""
    result = atexit_run()
    path, ran = result["/global"]
    if not ran:
        raise AssertionError(f"no {path} after SIGTERM: the %{{GLOBAL}} atexit handler did not run\n"
                             f"{result['log']}")


def atexit_runs_in_a_sub_interpreter(fx):
    """So does a sub-interpreter's (mod_wsgi ends each one with Py_EndInterpreter)."""
    result = atexit_run()
    path, ran = result["/sub"]
    if not ran:
        raise AssertionError(f"no {path} after SIGTERM: the sub-interpreter's atexit handler did not run\n"
                             f"{result['log']}")


def main():
    runner = Runner(budget=170)
    fx = Group(Stack)
    per_frontend = [resource_sites_keep_their_own_config, global_sites_share_one_config,
                    named_as_mod_wsgi_names_them, canonical_name_ignores_the_host_header]
    for fn in per_frontend:
        for frontend, _ in FRONTENDS:
            runner.add(f"groups/{frontend}/{fn.__name__}", fn, fx, frontend)
    runner.add("groups/server_and_host_on_ports_80_and_443", server_and_host_on_ports_80_and_443, fx)
    runner.add("groups/env_from_a_request_variable", env_from_a_request_variable, fx)
    runner.add("groups/env_naming_another_variable", env_naming_another_variable, fx)
    runner.add("groups/env_from_the_pool_environment", env_from_the_pool_environment, fx)
    runner.add("groups/env_unset_is_a_named_group", env_unset_is_a_named_group, fx)
    runner.add("groups/groups_have_their_own_server_types", groups_have_their_own_server_types, fx)
    runner.add("groups/atexit_runs_in_the_main_interpreter", atexit_runs_in_the_main_interpreter, fx)
    runner.add("groups/atexit_runs_in_a_sub_interpreter", atexit_runs_in_a_sub_interpreter, fx)
    runner.main()


if __name__ == "__main__":
    main()
