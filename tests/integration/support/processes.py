"""Processes: Proc, a child killed with its whole tree whatever happens, and
what /proc says about any process (its parent, descendants, ids, CPU time,
title)."""
import os
import signal
import subprocess

from . import cleanup
from .waiting import wait_for


def _proc_table():
    """{pid: ppid} for every process now."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        table[int(entry)] = int(fields[1])
    return table


def descendants(pid):
    """Every live descendant of pid (children first, breadth first)."""
    table = _proc_table()
    children = {}
    for child, parent in table.items():
        children.setdefault(parent, []).append(child)
    out, queue = [], [pid]
    for _ in range(len(table) + 1):
        if not queue:
            break
        for c in children.get(queue.pop(0), []):
            out.append(c)
            queue.append(c)
    return out


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def cpu_ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])


def is_zygote(pid):
    """The shared zygote (a wsgi-fpm-worker titled "wsgi-fpm zygote")."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().startswith(b"wsgi-fpm zygote")
    except OSError:
        return False


def is_spare(pid):
    """A spare the zygote or a template keeps forked ahead ("wsgi-fpm spare
    (zygote)", "TITLE spare"): no pool's worker until a request makes it one."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            title = f.read().split(b"\0")[0]
    except OSError:
        return False
    return title.startswith(b"wsgi-fpm spare") or title.rstrip().endswith(b" spare")


def descendants_titled(pid, title):
    """Descendants of `pid` whose process title is exactly `title` (a spare:
    "wsgi-fpm spare (zygote)", "(wsgi:POOL) spare")."""
    out = []
    for child in descendants(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                if f.read().split(b"\0")[0].decode(errors="replace").strip() == title:
                    out.append(child)
        except OSError:
            pass
    return out


def zombie_children(pid):
    """Children of `pid` that have exited and not been reaped."""
    out = []
    for child in descendants(pid):
        try:
            with open(f"/proc/{child}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == pid:
            out.append(child)
    return out


def exe_name(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


def proc_ids(pid):
    """(real, effective, saved, fs uids), same for gids, and supplementary groups."""
    uids = gids = groups = None
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "Uid":
                uids = tuple(int(x) for x in value.split())
            elif key == "Gid":
                gids = tuple(int(x) for x in value.split())
            elif key == "Groups":
                groups = tuple(int(x) for x in value.split())
    return uids, gids, groups


class Proc:
    """A child in its own session, output to files; killed (with its whole
    tree) at exit if the test did not stop it. pass_fds: descriptors of
    ours it inherits, at the same numbers (as from the shell that starts it)."""

    def __init__(self, argv, name, scratch, env=None, pass_fds=()):
        self.argv = argv
        self.name = name
        self.stdout_path = scratch.file(f"{name}.stdout")
        self.stderr_path = scratch.file(f"{name}.stderr")
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                          env=env, start_new_session=True,
                                          pass_fds=pass_fds)
        self.pid = self.popen.pid
        cleanup.add_process(self)

    def alive(self):
        return self.popen.poll() is None

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_tail(self, lines=25):
        return "\n".join(self.stderr().splitlines()[-lines:])

    def send(self, sig):
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """The exit status, or None if still running after timeout."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Asks politely; returns the exit status (killing the tree if it hangs)."""
        self.send(sig)
        rc = self.wait(timeout)
        self.kill()
        if rc is None:
            raise AssertionError(f"{self.name} did not exit within {timeout}s of signal {sig}")
        return rc

    def kill(self):
        """SIGKILL to the process group and every descendant, by pid; idempotent."""
        pids = descendants(self.pid) if self.alive() else []
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.wait(10)
        cleanup.forget_process(self)

    def wait_stderr(self, needle, timeout=5):
        """Logs pass through the supervisor, so give them a moment to land."""
        return wait_for(lambda: needle in self.stderr(), timeout,
                        what=f"{needle!r} in {self.name}'s stderr")
