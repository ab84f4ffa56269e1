"""Addresses: a free loopback port, and waiting until something listens on a
UNIX socket or a TCP port (a pool's `listen`: a path or HOST:PORT)."""
import os
import socket

from .waiting import wait_for


def free_port():
    """A loopback TCP port free right now (the usual small race is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listen_ready(listen):
    """True when something accepts connections on a pool's `listen`."""
    try:
        if listen.startswith("/"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(2)
                s.connect(listen)
        else:
            host, _, port = listen.rpartition(":")
            socket.create_connection((host.strip("[]"), int(port)), timeout=2).close()
        return True
    except OSError:
        return False


def wait_unix_socket(path, proc, timeout=20):
    """Until something accepts connections on path; fails early if proc dies."""
    def ready():
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode} before "
                                 f"listening on {path}:\n{proc.stderr_tail()}")
        if not os.path.exists(path):
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            try:
                s.connect(path)
                return True
            except OSError:
                return False
    wait_for(ready, timeout, what=f"{proc.name} listening on {path}")


def wait_tcp_port(port, proc, timeout=20, host="127.0.0.1"):
    """Until something accepts connections on host:port; fails early if proc dies."""
    def ready():
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited with {proc.popen.returncode} before "
                                 f"listening on {host}:{port}:\n{proc.stderr_tail()}")
        try:
            socket.create_connection((host, port), timeout=2).close()
            return True
        except OSError:
            return False
    wait_for(ready, timeout, what=f"{proc.name} listening on {host}:{port}")
