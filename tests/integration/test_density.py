"""Many tenants on one host (issue 14): the descriptor limit.

The supervisor raises its soft RLIMIT_NOFILE to the hard one (systemd starts
services at 1024, which a thousand idle pools pass), while its workers go
back to the soft limit it was started with; `check` warns when the pools at
full strength would need more descriptors than the hard limit allows.
"""
import sys

sys.dont_write_bytecode = True

import os  # noqa: E402

import harness as h  # noqa: E402


def nofile_of(pid):
    """(soft, hard) 'Max open files' of a process."""
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError(f"no 'Max open files' in /proc/{pid}/limits")


class Limits:
    """wsgi-fpm started with RLIMIT_NOFILE soft/hard (through prlimit(1): this
    test may not raise its own hard limit back once lowered)."""

    def __init__(self, scratch, soft, hard):
        self.wrapper = scratch.file(f"wsgi-fpm-{soft}-{hard}")
        with open(self.wrapper, "w") as f:
            f.write(f"#!/bin/sh\nexec prlimit --nofile={soft}:{hard} {os.path.abspath(h.WSGI_FPM)} \"$@\"\n")
        os.chmod(self.wrapper, 0o755)

    def __enter__(self):
        self.saved, h.WSGI_FPM = h.WSGI_FPM, self.wrapper

    def __exit__(self, *exc):
        h.WSGI_FPM = self.saved


def supervisor_raises_workers_keep():
    """Started at 1024/8192: the supervisor runs at 8192, its workers at 1024."""
    h.ensure_user()
    scratch = h.Scratch(prefix="wfpm-density-nofile-")
    apps = h.install_apps(scratch)
    with Limits(scratch, 1024, 8192):
        serve = h.Serve(scratch, os.path.join(apps, "procinfo.wsgi"),
                        args=["--user", h.TEST_USER, "--processes", "1", "--threads", "2"])
    try:
        if nofile_of(serve.pid) != (8192, 8192):
            raise AssertionError(f"the supervisor's descriptor limit is {nofile_of(serve.pid)}, expected 8192 soft")
        workers = h.wait_for(serve.workers, 10, what="a worker")
        if nofile_of(workers[0]) != (1024, 8192):
            raise AssertionError(f"the worker's descriptor limit is {nofile_of(workers[0])}, expected 1024 soft")
    finally:
        serve.stop()


def check_warns_when_pools_cannot_fit():
    """300 pools of 2 processes need about 2,700 descriptors: `check` under a
    hard limit of 1024 warns with file:line:col, and is quiet under 8192."""
    h.ensure_user()
    scratch = h.Scratch(prefix="wfpm-density-check-")
    apps = h.install_apps(scratch)
    run = scratch.sub("run")
    os.chmod(scratch.path, 0o755)
    pools = {f"t{i}": {"user": h.TEST_USER, "processes": 2, "listen": os.path.join(run, f"t{i}.sock"),
                       "apps": [{"script": os.path.join(apps, "procinfo.wsgi")}]} for i in range(300)}
    path = scratch.file("many.yaml")
    h.write_config(path, {"runtime-dir": scratch.file("runtime"), "pools": pools})
    with Limits(scratch, 1024, 1024):
        tight = h.wsgi_fpm("check", "-c", path)
    with Limits(scratch, 1024, 8192):
        roomy = h.wsgi_fpm("check", "-c", path)
    for r in (tight, roomy):
        if r.returncode != 0:
            raise AssertionError(f"check refused the file: {r.stderr.decode(errors='replace')[-500:]}")
    warning = [l for l in tight.stderr.decode().splitlines() if "descriptors" in l]
    if not warning or not warning[0].startswith(path + ":") or "1024" not in warning[0]:
        raise AssertionError(f"no descriptor warning under a hard limit of 1024: {tight.stderr.decode()[-500:]!r}")
    if "descriptors" in roomy.stderr.decode():
        raise AssertionError(f"a descriptor warning under 8192: {roomy.stderr.decode()[-500:]!r}")


def main():
    runner = h.Runner(budget=180)
    runner.add("density/supervisor_raises_workers_keep", supervisor_raises_workers_keep)
    runner.add("density/check_warns_when_pools_cannot_fit", check_warns_when_pools_cannot_fit)
    runner.main()


if __name__ == "__main__":
    main()
