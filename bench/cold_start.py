"""First byte of one cold ondemand tenant, again and again, with the shared
zygote (or, --preload-fork, the tenant's template) already up: the quick
probe behind issue 14's cold-start work, where `scripts/bench --density`
takes minutes a run.

    $(cat build/python-executable) bench/cold_start.py [--rounds 10] [--preload-fork] [--bin build/src]

One `wsgi-fpm run` with two pools of the density benchmark's users
(bench/density.py: wfpm-d0001, wfpm-d0002) and its hello-world app in
%{GLOBAL}: `keep`, static with one process, keeps the zygote up; `cold`,
ondemand with process-idle-timeout 1 s. Each round waits until `cold` has
no worker, then times connect to first byte of one request. Prints every
round and the median (min-max), in ms (with --preload-fork the first
round also starts the template). A measurement, not a test.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import density as d  # noqa: E402

PARAMS = {"GATEWAY_INTERFACE": "CGI/1.1", "REQUEST_METHOD": "GET", "REQUEST_URI": "/", "SCRIPT_NAME": "",
          "PATH_INFO": "/", "QUERY_STRING": "", "SERVER_NAME": "localhost", "SERVER_PORT": "80",
          "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": "0"}


def pool(name, user, sock, apps, extra):
    lines = [f"  {name}:", f"    user: {user}", "    threads: 1", f"    listen: {sock}", f"    home: {apps}"]
    lines += [f"    {k}: {v}" for k, v in extra.items()]
    return lines + ["    apps:", "      - mount: /", f"        script: {apps}/hello.wsgi",
                    "        application-group: \"%{GLOBAL}\""]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--preload-fork", action="store_true")
    ap.add_argument("--bin", default="build/src", help="holds wsgi-fpm and wsgi-fpm-worker")
    opt = ap.parse_args()
    d.ensure_users(2)
    scratch = tempfile.mkdtemp(prefix="wfpm-cold-")
    os.chmod(scratch, 0o755)
    apps = os.path.join(scratch, "apps")
    shutil.copytree(os.path.join(os.path.dirname(os.path.abspath(__file__)), "apps"), apps)
    subprocess.run(["chmod", "-R", "a+rX", apps], check=True)
    cold_sock = os.path.join(scratch, "cold.sock")
    cold = {"process-manager": "ondemand", "processes": 2, "process-idle-timeout": 1}
    if opt.preload_fork:
        cold["preload-fork"] = "true"
    config = os.path.join(scratch, "wsgi-fpm.yaml")
    with open(config, "w") as f:
        f.write("\n".join([f"runtime-dir: {scratch}/run", f"log: {scratch}/supervisor.log", "pools:"]
                          + pool("keep", d.user_name(1), f"{scratch}/keep.sock", apps, {"processes": 1})
                          + pool("cold", d.user_name(2), cold_sock, apps, cold)) + "\n")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
           "WSGI_FPM_WORKER": os.path.abspath(os.path.join(opt.bin, "wsgi-fpm-worker"))}
    srv = subprocess.Popen([os.path.join(opt.bin, "wsgi-fpm"), "run", "-c", config], env=env)
    cold_uid = int(subprocess.run(["id", "-u", d.user_name(2)], capture_output=True, text=True).stdout)
    helper = ("zygote", "template", "spare")

    def cold_workers():
        return [p for p in d.descendants(srv.pid)
                if d.uid_of(p) == cold_uid and not any(w in d.title_of(p) for w in helper)]

    times = []
    try:
        deadline = time.monotonic() + 30
        log = f"{scratch}/supervisor.log"
        while not os.path.exists(log) or "cold workers are forked from it" not in open(log).read():
            if time.monotonic() > deadline or srv.poll() is not None:
                raise SystemExit("cold_start: the zygote did not come up")
            time.sleep(0.1)
        for _ in range(opt.rounds):
            deadline = time.monotonic() + 30
            while cold_workers():
                if time.monotonic() > deadline:
                    raise SystemExit("cold_start: the cold pool's worker did not idle out")
                time.sleep(0.05)
            time.sleep(0.3)
            status, first_byte, _ = d.fcgi_get(cold_sock, PARAMS)
            if status != 200:
                raise SystemExit(f"cold_start: status {status}")
            times.append(first_byte * 1e3)
    finally:
        srv.terminate()
        srv.wait(30)
        shutil.rmtree(scratch, ignore_errors=True)
    print("cold first byte, ms:", " ".join(f"{t:.1f}" for t in times))
    print(f"median {statistics.median(times):.1f} (min {min(times):.1f}, max {max(times):.1f})")


if __name__ == "__main__":
    main()
