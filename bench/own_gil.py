"""own-gil (issue 20): two CPU-bound apps (bench/apps/cpu.wsgi, pure Python)
in two application groups of one pool of one process with 2 threads, the
groups sharing the main GIL or each with a GIL of its own. Needs a build
embedding Python 3.12 or later, run as root:

    python3 bench/own_gil.py --build BUILD [--rounds 5] [--duration 10] [--output FILE]

(`scripts/bench --own-gil` runs it in the Debian 13 root of
scripts/test-debian13 when this machine's Python is older.)

Each round starts `wsgi-fpm run` once per setting, in alternating order
(interleaved), and sends load to both groups at once for --duration
seconds after a warm-up: one wsgi-fpm-loadgen per group, each with
--connections connections (default 1, so one request per group at a time).
Measured per run: requests/s (both groups together, and each), and the
worker's CPU time (utime + stime from /proc/PID/stat) per request and per
second of the run (how many cores it kept busy). Prints each run, then the
median (min-max) per setting and the ratio of the medians. A measurement,
not a test.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(") ", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, ValueError, IndexError):
                pass
    return out


def title(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def worker_of(supervisor, pool):
    """The pool's one worker: its title is the default display-name,
    "(wsgi:POOL)"."""
    for pid in children(supervisor):
        if title(pid).strip() == f"(wsgi:{pool})":
            return pid
    return None


def write_config(scratch, own_gil, threads, user):
    app = os.path.join(scratch, "apps", "cpu.wsgi")
    text = f"""runtime-dir: {scratch}/run
log: {scratch}/supervisor-{own_gil}.log
pools:
  cpu:
    user: {user}
    processes: 1
    threads: {threads}
    own-gil: {"true" if own_gil else "false"}
    listen: {scratch}/cpu.sock
    home: {scratch}/apps
    apps:
      - {{mount: /a, script: {app}, application-group: ga}}
      - {{mount: /b, script: {app}, application-group: gb}}
"""
    path = os.path.join(scratch, f"wsgi-fpm-{own_gil}.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def one_run(opt, scratch, own_gil):
    config = write_config(scratch, own_gil, opt.threads, opt.user)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "WSGI_FPM_WORKER": os.path.join(opt.build, "src", "wsgi-fpm-worker")}
    srv = subprocess.Popen([os.path.join(opt.build, "src", "wsgi-fpm"), "run", "-c", config], env=env)
    sock = os.path.join(scratch, "cpu.sock")
    loadgen = os.path.join(opt.build, "bench", "wsgi-fpm-loadgen")
    try:
        deadline = time.monotonic() + 30
        worker = None
        while time.monotonic() < deadline and not worker:
            time.sleep(0.1)
            if srv.poll() is not None:
                raise SystemExit(f"own_gil: wsgi-fpm exited with {srv.returncode}")
            if os.path.exists(sock):
                worker = worker_of(srv.pid, "cpu")
        if not worker:
            raise SystemExit("own_gil: no worker came up")

        def load(seconds, record):
            procs = [subprocess.Popen([loadgen, sock, "--path", path, "--connections", str(opt.connections),
                                       "--duration", str(seconds), "--json"],
                                      stdout=subprocess.PIPE, text=True) for path in ("/a", "/b")]
            outs = [p.communicate()[0] for p in procs]
            return [json.loads(o) for o in outs] if record else None

        load(opt.warmup, False)
        cpu_before, wall_before = cpu_seconds(worker), time.monotonic()
        results = load(opt.duration, True)
        cpu = cpu_seconds(worker) - cpu_before
        wall = time.monotonic() - wall_before
        errors = sum(r["errors"]["total"] for r in results)
        per_group = [r["requests_per_second"] for r in results]
        requests = sum(r["requests"] for r in results)
        return {"own_gil": own_gil, "rps": sum(per_group), "rps_a": per_group[0], "rps_b": per_group[1],
                "cpu_ms_per_request": 1000 * cpu / requests if requests else float("nan"),
                "cores": cpu / wall, "errors": errors}
    finally:
        srv.terminate()
        try:
            srv.wait(30)
        except subprocess.TimeoutExpired:
            srv.kill()


def summary(values):
    return f"{statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=1)
    ap.add_argument("--user", default="nobody")
    ap.add_argument("--output", help="also write the report (Markdown) here")
    opt = ap.parse_args()
    opt.build = os.path.abspath(opt.build)
    scratch = tempfile.mkdtemp(prefix="wfpm-owngil-")
    os.chmod(scratch, 0o755)
    os.makedirs(os.path.join(scratch, "apps"))
    shutil.copy(os.path.join(HERE, "apps", "cpu.wsgi"), os.path.join(scratch, "apps"))
    subprocess.run(["chmod", "-R", "a+rX", scratch], check=True)
    runs = []
    try:
        for r in range(opt.rounds):
            order = (True, False) if r % 2 == 0 else (False, True)
            for own_gil in order:
                run = one_run(opt, scratch, own_gil)
                runs.append(run)
                print(f"round {r + 1} {'own GIL   ' if own_gil else 'shared GIL'}: {run['rps']:.1f} req/s "
                      f"(/a {run['rps_a']:.1f}, /b {run['rps_b']:.1f}), {run['cpu_ms_per_request']:.2f} ms CPU "
                      f"per request, {run['cores']:.2f} cores, {run['errors']} errors", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    python = subprocess.run(["sh", "-c", f"cat {opt.build}/python-executable"], capture_output=True,
                            text=True).stdout.strip()
    lines = [f"Python: {python}; {opt.rounds} interleaved rounds of {opt.duration:g} s "
             f"(after {opt.warmup:g} s of warm-up); one process of {opt.threads} threads; "
             f"{opt.connections} connection(s) per group", "",
             "| groups | requests/s, both groups | ms CPU per request | cores busy | errors |",
             "|---|---|---|---|---|"]
    med = {}
    for own_gil in (False, True):
        rs = [x for x in runs if x["own_gil"] == own_gil]
        med[own_gil] = statistics.median(x["rps"] for x in rs)
        lines.append(f"| {'a GIL each (own-gil: true)' if own_gil else 'sharing the main GIL'} | "
                     f"{summary([x['rps'] for x in rs])} | {summary([x['cpu_ms_per_request'] for x in rs])} | "
                     f"{summary([x['cores'] for x in rs])} | {sum(x['errors'] for x in rs)} |")
    ratios = [own["rps"] / shared["rps"] for own, shared in
              zip([x for x in runs if x["own_gil"]], [x for x in runs if not x["own_gil"]])]
    lines += ["", f"Ratio of the medians, own GIL / shared: {med[True] / med[False]:.2f}x; "
              f"within each round: {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"]
    report = "\n".join(lines)
    print(report)
    if opt.output:
        with open(opt.output, "w") as f:
            f.write(report + "\n")


if __name__ == "__main__":
    main()
