"""Where a wsgi-fpm worker's instructions per hello request go, by phase.

    callgrind_phases.py PREFIX REQUESTS

PREFIX.base.PID and PREFIX.load.PID are the two profiles scripts/bench
keeps (BENCH_KEEP_TMP=1: TMP/callgrind-wsgi-fpm.{base,load}.PID). Each phase
is the inclusive Ir of the functions that do it, (load - base) / REQUESTS,
less the phases nested in it, so the rows add up to the whole. Prints a
Markdown table.
"""

import glob
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from callgrind_summary import LINE, total_ir  # noqa: E402  (its neighbour's parsing)


# (phase, the function whose inclusive cost it is, the phases nested in it)
PHASES = [
    ("a connection: accept, admit, close", "Dispatcher::accept_burst(", ["serving a request"]),
    ("serving a request", "Dispatcher::serve(std::unique_ptr", ["read of the request head and its parameters", "routing"]),
    ("read of the request head and its parameters", "FastCgiConnection::read_head()", []),
    ("routing: mount, label, application group, interpreter", "Router::handle(", ["the request's Python objects"]),
    ("the request's Python objects", "Application::handle(", ["environ", "the call into the app"]),
    ("environ", "build_environ(", []),
    ("the call into the app", "Application::run(", ["start_response", "response framing and write"]),
    ("start_response", "start_response_call(", []),
    ("response framing and write", "Response::send(", []),
]


def inclusive(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True, check=True).stdout
    costs = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            ir = int(m.group(1).replace(",", ""))
            name = m.group(2)
            costs[name] = costs.get(name, 0) + ir
    return costs


def phase_costs(path):
    costs = inclusive(path)
    out = {}
    for phase, needle, _ in PHASES:
        # A function appears once per source file its lines come from; the
        # largest is the one with the whole inclusive cost.
        out[phase] = max([ir for name, ir in costs.items() if needle in name] or [0])
    return out


def main():
    prefix, requests = sys.argv[1], int(sys.argv[2])
    base = sorted(glob.glob(prefix + ".base.*"))[0]
    load = sorted(glob.glob(prefix + ".load.*"))[0]
    b, l = phase_costs(base), phase_costs(load)
    per = {p: (l[p] - b[p]) / requests for p in l}
    whole = (total_ir(load) - total_ir(base)) / requests
    short = {p.split(":")[0]: p for p, _, _ in PHASES}
    rows = []
    for phase, _, nested in PHASES:
        own = per[phase] - sum(per[short.get(n, n)] for n in nested)
        rows.append((phase, own))
    rows.append(("the rest: the dispatcher's loop, timers, the GIL's hand-offs", whole - per[PHASES[0][0]]))
    print("| phase | instructions per request |")
    print("|---|---|")
    for phase, ir in rows:
        print(f"| {phase} | {ir:,.0f} |")
    print(f"| **all** | **{whole:,.0f}** |")


if __name__ == "__main__":
    main()
