"""Every process and scratch directory registers here, so a failure, an
exception or meson's SIGTERM on timeout never leaves anything behind: at exit
(and at the end of Runner.main) processes are killed with their trees, newest
first, then the directories removed."""
import atexit
import signal
import sys
import traceback

_procs = []
_dirs = []


def add_process(proc):
    """proc.kill() at exit unless forget_process(proc) came first."""
    _procs.append(proc)


def forget_process(proc):
    if proc in _procs:
        _procs.remove(proc)


def add_directory(directory):
    """directory.remove() at exit."""
    _dirs.append(directory)


def clean_up():
    for p in reversed(list(_procs)):
        try:
            p.kill()
        except Exception:  # cleanup must go on with the others
            traceback.print_exc(file=sys.stderr)
    _procs.clear()
    for d in reversed(_dirs):
        d.remove()
    _dirs.clear()


def _on_signal(signum, _frame):
    # Raising unwinds every `finally` of the running test, then atexit runs.
    raise SystemExit(128 + signum)


atexit.register(clean_up)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)
