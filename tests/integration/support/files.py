"""Scratch directories, and the apps of tests/apps copied into them for a pool
user to own."""
import os
import shutil
import sys
import tempfile

from . import cleanup
from .paths import APPS
from .users import TEST_USER, chown_tree, ensure_user


class Scratch:
    """A temporary directory, world-traversable so nginx (www-data) and the
    pool user can reach sockets and apps inside it; removed at exit
    (kept with WFPM_KEEP=1)."""

    def __init__(self, prefix="wfpm-it-"):
        self.path = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.path, 0o755)
        cleanup.add_directory(self)

    def sub(self, *parts):
        p = os.path.join(self.path, *parts)
        os.makedirs(p, exist_ok=True)
        os.chmod(p, 0o755)
        return p

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    def remove(self):
        if os.environ.get("WFPM_KEEP"):
            print(f"# kept {self.path}", file=sys.stderr)
            return
        shutil.rmtree(self.path, ignore_errors=True)


def install_apps(scratch, owner=TEST_USER, extra=(), subdir="apps"):
    """Copies tests/apps (and any extra files) into SCRATCH/SUBDIR owned by the
    pool user, with a markers/ directory the app may write to. Returns the dir."""
    ensure_user(owner)
    d = scratch.sub(subdir)
    for name in os.listdir(APPS):
        src = os.path.join(APPS, name)
        if os.path.isfile(src):
            shutil.copy(src, os.path.join(d, name))
    for src in extra:
        shutil.copy(src, os.path.join(d, os.path.basename(src)))
    os.makedirs(os.path.join(d, "markers"), exist_ok=True)
    chown_tree(d, owner)
    return d


def install_tree(scratch, name, owner=TEST_USER, subdir=None):
    """Copies the directory tests/apps/NAME into SCRATCH/SUBDIR (default NAME),
    owned by the pool user, with a markers/ directory the app may write to.
    Returns the copy's path."""
    ensure_user(owner)
    dest = scratch.file(subdir or name)
    shutil.copytree(os.path.join(APPS, name), dest,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    os.makedirs(os.path.join(dest, "markers"), exist_ok=True)
    for root, dirs, _files in os.walk(dest):
        os.chmod(root, 0o755)
    chown_tree(dest, owner)
    return dest
