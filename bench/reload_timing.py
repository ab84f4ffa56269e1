"""How long `wsgi-fpm reload` takes with many pools, one of them changed,
for one or more builds side by side (issue 14: a reload of 1,000 pools).

    $(cat build/python-executable) bench/reload_timing.py [--tenants 1000] [--rounds 5] LABEL=BINDIR ...

BINDIR holds wsgi-fpm and wsgi-fpm-worker (copy a build's src/ binaries
aside to keep an old one). Each build gets its own `wsgi-fpm run` with the
density benchmark's pools (bench/density.py: ondemand, one user per tenant,
wfpm-d0001..., made there once); the builds take turns, round by round, so
the machine's load falls on all alike. A round changes one pool's
`environment` and times `wsgi-fpm reload` until it returns, until the
changed pool and then an unchanged one answer, and the CPU the supervisor
(/proc/PID/stat) and the client (RUSAGE_CHILDREN) spent in the command, and
`wsgi-fpm check` of the same file alone. Prints median (min-max) per build.
A measurement, not a test: nothing is asserted.
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import density as d  # noqa: E402

MEASURES = ("command", "changed answers", "other answers", "check alone", "supervisor CPU", "client CPU")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def one_round(s, r):
    changed, other = 1 + (2 * r) % (s.n - 1), 2 + (2 * r) % (s.n - 1)
    t = time.monotonic()
    subprocess.run([s.tools["wsgi-fpm"], "check", "-c", s.config], capture_output=True, env=s.env())
    check_s = time.monotonic() - t
    sup0, cli0 = cpu_seconds(s.pid), children_cpu()
    t0, took = s.reload(changed, 1000 + r)
    sup_cpu, cli_cpu = cpu_seconds(s.pid) - sup0, children_cpu() - cli0
    changed_s = d.wait_answer(s.socket(changed), s.params(changed), t0, 60)
    other_s = d.wait_answer(s.socket(other), s.params(other), t0, 60)
    return (took, changed_s, other_s, check_s, sup_cpu, cli_cpu)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tenants", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("builds", nargs="+", metavar="LABEL=BINDIR")
    opt = ap.parse_args()
    d.ensure_users(opt.tenants)
    apps = os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps")
    scratch = tempfile.mkdtemp(prefix="wfpm-reload-timing-")
    os.chmod(scratch, 0o755)
    servers = []
    try:
        for spec in opt.builds:
            label, bindir = spec.split("=", 1)
            tools = {name: os.path.join(os.path.abspath(bindir), name) for name in ("wsgi-fpm", "wsgi-fpm-worker")}
            s = d.WsgiFpm("wsgi-fpm", opt.tenants, os.path.join(scratch, label), apps, tools)
            s.label, s.results = label, []
            servers.append(s)
            s.start()
            want = {s.socket(i) for i in range(1, s.n + 1)}
            while s.alive() and not want <= d.listening_paths():
                time.sleep(0.01)
        time.sleep(2)
        for r in range(opt.rounds):
            for s in servers:
                s.results.append(one_round(s, r))
                print(f"{s.label} round {r + 1}: " + ", ".join(
                    f"{m} {v:.3f} s" if v is not None else f"{m} -" for m, v in zip(MEASURES, s.results[-1])),
                    flush=True)
                time.sleep(1)
        for s in servers:
            for k, m in enumerate(MEASURES):
                v = [x[k] for x in s.results if x[k] is not None]
                print(f"{s.label} {m}: median {statistics.median(v):.3f} s ({min(v):.3f}-{max(v):.3f}), n={len(v)}")
    finally:
        for s in servers:
            s.stop()
        subprocess.run(["rm", "-rf", scratch])


if __name__ == "__main__":
    main()
