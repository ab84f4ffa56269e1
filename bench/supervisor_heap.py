"""What an idle supervisor with many pools keeps resident, for one or more
builds (issue 14: idle memory at 1,000 tenants).

    $(cat build/python-executable) bench/supervisor_heap.py [--tenants 1000] LABEL=BINDIR ...

BINDIR holds wsgi-fpm and wsgi-fpm-worker. Each build runs the density
benchmark's ondemand pools (bench/density.py: one user per tenant,
wfpm-d0001..., its hello-world app) with no request, and after 4 s its
supervisor's heap (the [heap] mapping and anonymous ones, RSS from
/proc/PID/smaps), PSS, RSS and private memory (smaps_rollup) are printed,
in kB. PSS divides each shared page among the processes that map it, so it
moves with whatever else runs (another wsgi-fpm halves the libraries' share):
private memory is what this supervisor alone costs. A measurement, not a
test.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import density as d  # noqa: E402


def heap_kb(pid):
    rss, mapping = 0, None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and not fields[0].endswith(":"):
                mapping = fields[5] if len(fields) > 5 else "[anon]"
            elif fields[0] == "Rss:" and mapping in ("[heap]", "[anon]"):
                rss += int(fields[1])
    return rss


def rollup_kb(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            fields = line.split()
            if len(fields) == 3 and fields[2] == "kB":
                out[fields[0].rstrip(":")] = int(fields[1])
    return out


def measure(label, bindir, n, apps):
    scratch = tempfile.mkdtemp(prefix="wfpm-heap-")
    os.chmod(scratch, 0o755)
    lines = [f"runtime-dir: {scratch}/run", f"log: {scratch}/supervisor.log", "pools:"]
    for i in range(1, n + 1):
        lines += [f"  t{i:04d}:", f"    user: {d.user_name(i)}", "    processes: 2", "    threads: 1",
                  "    process-manager: ondemand", f"    listen: {scratch}/t{i:04d}.sock", f"    home: {apps}",
                  "    apps:", "      - mount: /", f"        script: {apps}/hello.wsgi",
                  "        application-group: \"%{GLOBAL}\""]
    config = os.path.join(scratch, "wsgi-fpm.yaml")
    with open(config, "w") as f:
        f.write("\n".join(lines) + "\n")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "WSGI_FPM_WORKER": os.path.abspath(os.path.join(bindir, "wsgi-fpm-worker"))}
    srv = subprocess.Popen([os.path.join(bindir, "wsgi-fpm"), "run", "-c", config], env=env)
    try:
        time.sleep(4)
        r = rollup_kb(srv.pid)
        private = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
        print(f"{label}: {n} pools, heap {heap_kb(srv.pid)} kB, PSS {r.get('Pss')} kB, RSS {r.get('Rss')} kB, "
              f"private {private} kB", flush=True)
    finally:
        srv.terminate()
        srv.wait(30)
        shutil.rmtree(scratch, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tenants", type=int, default=1000)
    ap.add_argument("builds", nargs="+", metavar="LABEL=BINDIR")
    opt = ap.parse_args()
    d.ensure_users(opt.tenants)
    apps = tempfile.mkdtemp(prefix="wfpm-heap-apps-")
    os.chmod(apps, 0o755)
    shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps", "hello.wsgi"), apps)
    os.chmod(os.path.join(apps, "hello.wsgi"), 0o644)
    try:
        for build in opt.builds:
            label, _, bindir = build.partition("=")
            measure(label, bindir, opt.tenants, apps)
    finally:
        shutil.rmtree(apps, ignore_errors=True)


if __name__ == "__main__":
    main()
