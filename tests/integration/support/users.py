"""System users and groups the stories run pools as, made once with useradd
and groupadd and kept (a second run, or a concurrent one, is fine).

  wfpm-test   the pool user of `wsgi-fpm serve` stories: owns the apps, runs the workers
  www-data    the frontends' workers (nginx, Apache, lighttpd)
  wfpm-ta, wfpm-tb   two tenants of one supervisor, both members of wfpm-tshared;
              wfpm-textra and wfpm-tbgrp exist for `supplementary-groups:` and `group:`
"""
import grp
import os
import pwd
import subprocess

TEST_USER = "wfpm-test"      # the pool's user: owns the apps, runs the workers
FRONTEND_USER = "www-data"   # nginx's workers run as this user

TA, TB = "wfpm-ta", "wfpm-tb"
SHARED, EXTRA, TBGROUP = "wfpm-tshared", "wfpm-textra", "wfpm-tbgrp"


def ensure_user(name=TEST_USER):
    """Creates a system user once; a second run (or a concurrent one) is fine."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    try:
        grp.getgrnam(name)
        group = ["--gid", name]  # a group left behind by an earlier userdel
    except KeyError:
        group = ["--user-group"]
    r = subprocess.run(["useradd", "--system", *group, "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                       capture_output=True, text=True, timeout=30)
    try:
        return pwd.getpwnam(name)  # exit 9 may mean a concurrent run made it: fine
    except KeyError:
        raise RuntimeError(f"useradd {name} (exit {r.returncode}): {r.stderr.strip()}") from None


def ensure_group(name):
    """Creates a system group once; a second (or concurrent) run is fine."""
    try:
        return grp.getgrnam(name)
    except KeyError:
        pass
    r = subprocess.run(["groupadd", "--system", name], capture_output=True, text=True, timeout=30)
    try:
        return grp.getgrnam(name)
    except KeyError:
        raise RuntimeError(f"groupadd {name} (exit {r.returncode}): {r.stderr.strip()}") from None


def ensure_member(user, group):
    """Makes user a member of group (in /etc/group); idempotent."""
    if user in grp.getgrnam(group).gr_mem:
        return
    r = subprocess.run(["usermod", "--append", "--groups", group, user],
                       capture_output=True, text=True, timeout=30)
    if user not in grp.getgrnam(group).gr_mem:
        raise RuntimeError(f"usermod -aG {group} {user} (exit {r.returncode}): {r.stderr.strip()}")


def ensure_tenants():
    """wfpm-ta and wfpm-tb, members of wfpm-tshared; wfpm-textra and wfpm-tbgrp."""
    for user in (TA, TB):
        ensure_user(user)
    for group in (SHARED, EXTRA, TBGROUP):
        ensure_group(group)
    ensure_member(TA, SHARED)
    ensure_member(TB, SHARED)


def chown_tree(path, user):
    """path and everything under it owned by user (and user's primary group)."""
    pw = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(root, f), pw.pw_uid, pw.pw_gid)
