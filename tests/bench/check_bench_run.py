"""Checks a `scripts/bench --quick` run end to end: every server of every
workload started, served and was measured, and the page was written. The
benchmark drives four peers (uWSGI, PHP-FPM, Apache mod_wsgi, libfcgi) and
two frontends from their Debian packages, each from a config of its own; a
package that moves a path or changes a default would silently empty a column
of docs/benchmarks.md. This catches that the day it happens.

It asserts no speed. It does assert that wsgi-fpm answered every request
(a peer's errors are printed, not failed on: they are the peer's).

  check_bench_run.py --status RC --results RESULTS.jsonl --page PAGE.md --processes P

Prints `ok NAME` or `FAIL NAME: reason` per check, then `P passed, F failed`.
"""
import argparse
import json
import sys

# Every (workload, server) that scripts/bench measures when every tool is
# installed, which scripts/setup sees to.
EXPECTED = {
    "hello": ["wsgi-fpm", "wsgi-fpm-fork", "wsgi-fpm-gen2", "uwsgi", "uwsgi-lazy", "php-fpm", "libfcgi",
              "libfcgi-gen2", "nginx+wsgi-fpm", "nginx-ka+wsgi-fpm", "nginx+uwsgi", "apache+mod_wsgi"],
    "hello-ka": ["wsgi-fpm", "php-fpm", "libfcgi", "libfcgi-gen2"],
    "64k": ["wsgi-fpm", "uwsgi", "nginx+wsgi-fpm", "nginx+uwsgi", "apache+mod_wsgi"],
    "echo-1m": ["wsgi-fpm", "uwsgi", "nginx+wsgi-fpm", "nginx+uwsgi", "apache+mod_wsgi"],
    "sleep-10ms": ["wsgi-fpm", "uwsgi", "nginx+wsgi-fpm", "nginx+uwsgi", "apache+mod_wsgi"],
    "flask": ["wsgi-fpm", "wsgi-fpm-fork", "uwsgi", "uwsgi-lazy", "nginx+wsgi-fpm", "nginx-ka+wsgi-fpm",
              "nginx+uwsgi", "apache+mod_wsgi"],
    "django": ["wsgi-fpm", "uwsgi", "nginx+wsgi-fpm", "nginx-ka+wsgi-fpm", "nginx+uwsgi", "apache+mod_wsgi"],
}
PAGE_SECTIONS = ["## Issue 5's targets in this run", "## Issue 19's targets in this run",
                 "## Throughput: wsgi-fpm ÷ peer", "## Server CPU per request: peer ÷ wsgi-fpm",
                 "## p99 latency: wsgi-fpm ÷ peer", "## Memory after warm-up", "## All measurements",
                 "## Is the load generator the bottleneck?", "## Instructions per request (callgrind)"]
CALLGRIND_ROWS = ["| wsgi-fpm worker | ", "| uWSGI (no master) | ", "| libfcgi C responder | "]


def ours(server):
    return server.startswith("wsgi-fpm") or server.endswith("+wsgi-fpm")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--status", type=int, required=True, help="scripts/bench's exit status")
    ap.add_argument("--results", required=True)
    ap.add_argument("--page", required=True)
    ap.add_argument("--processes", type=int, default=2)
    a = ap.parse_args()

    results = {}
    try:
        with open(a.results) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    results[(r["workload"], r["server"])] = r
    except (OSError, ValueError) as e:
        print(f"# cannot read {a.results}: {e}")
    try:
        with open(a.page) as f:
            page = f.read()
    except OSError as e:
        print(f"# cannot read {a.page}: {e}")
        page = ""

    checks = []  # (name, problem or "")
    checks.append(("bench/exit_status", "" if a.status == 0 else f"scripts/bench exited {a.status}"))
    for workload, servers in EXPECTED.items():
        for server in servers:
            name = f"bench/{workload}/{server}"
            r = results.get((workload, server))
            if r is None:
                checks.append((name, "not measured (did it fail to start? see the bench log above)"))
                continue
            res = r["result"]
            errors = res["errors"]["total"]
            problem = ""
            if res["requests"] <= 0 or res["requests_per_second"] <= 0:
                problem = "no request was served"
            elif errors and ours(server):
                problem = f"{errors} errors: {res.get('first_errors') or res['errors']}"
            elif r["kind"] == "direct" and server.startswith(("wsgi-fpm", "uwsgi")) and \
                    len(r["memory"]["workers"]) != a.processes:
                problem = f"{len(r['memory']['workers'])} worker processes measured, not {a.processes}"
            elif errors:
                print(f"# note: {server} had {errors} errors in {workload} (a peer's, not failed on)")
            checks.append((name, problem))
    missing = [s for s in PAGE_SECTIONS if s not in page]
    checks.append(("bench/page_sections", f"the page lacks {missing}" if missing else ""))
    rows = [row for row in CALLGRIND_ROWS if row not in page]
    checks.append(("bench/callgrind_rows", f"the callgrind table lacks {rows}" if rows else ""))

    passed = failed = 0
    for name, problem in checks:
        if problem:
            failed += 1
            print(f"FAIL {name}: {problem}")
        else:
            passed += 1
            print(f"ok {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
