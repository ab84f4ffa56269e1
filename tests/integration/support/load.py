"""Requests on threads of their own, while a test kills, reloads or stops
something: one in flight (InFlight, slow_request), n at once (Concurrent), or
loops until stopped (Load, whose results failures() and describe() read)."""
import json
import os
import threading
import time
import uuid
from urllib.parse import quote

from .clients import FcgiClosed, FcgiConnectError, fcgi_request, proc_get, serving_pid
from .waiting import wait_for


class Load:
    """`threads` loops of FastCGI GETs on one socket until stopped; every
    request's start and end time, outcome and (when it worked) serving pid."""

    def __init__(self, listen, uri, threads=6):
        self.listen, self.uri = listen, uri
        self.results = []  # (start, end, kind, pid or detail)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _loop(self):
        for _ in range(100000):
            if self._stop.is_set():
                return
            start = time.monotonic()
            try:
                resp = fcgi_request(self.listen, self.uri, timeout=20)
                if resp.status == 200:
                    outcome = ("ok", json.loads(resp.body)["pid"])
                else:
                    outcome = ("status", f"{resp.status} {resp.body[:200]!r}")
            except FcgiClosed as e:
                outcome = ("closed", str(e))
            except FcgiConnectError as e:
                outcome = ("connect", str(e))
            except Exception as e:  # reported by the test
                outcome = ("error", f"{type(e).__name__}: {e}")
            with self._lock:
                self.results.append((start, time.monotonic(), *outcome))

    def pids_served(self, since=0.0):
        with self._lock:
            return {r[3] for r in self.results if r[2] == "ok" and r[0] >= since}

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(30)
        return list(self.results)


def failures(results):
    """The results of a Load that are no 200."""
    return [r for r in results if r[2] != "ok"]


def describe(results, limit=5):
    """The first `limit` results, for a failure message: kind, time, detail."""
    return "; ".join(f"{r[2]} at +{r[0] - results[0][0]:.2f}s: {r[3]}" for r in results[:limit])


class Concurrent:
    """`n` requests at once on fresh connections; .join() gives the serving pids."""

    def __init__(self, sup, pool, uri, n):
        self.pids, self.errors = [], []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._one, args=(sup, pool, uri), daemon=True) for _ in range(n)]
        for t in self._threads:
            t.start()

    def _one(self, sup, pool, uri):
        try:
            pid = serving_pid(sup, pool, uri)
            with self._lock:
                self.pids.append(pid)
        except Exception as e:  # reported by join()
            with self._lock:
                self.errors.append(f"{type(e).__name__}: {e}")

    def join(self, timeout=60):
        for t in self._threads:
            t.join(timeout)
        if self.errors:
            raise AssertionError(f"{len(self.errors)} request(s) failed: {self.errors[:3]}")
        return self.pids


class InFlight:
    """One request on its own thread; .result() is ("ok", pid), ("status",
    code) or ("closed", why)."""

    def __init__(self, sup, pool, uri):
        self._outcome = None
        self._thread = threading.Thread(target=self._run, args=(sup.listen_of(pool), uri), daemon=True)
        self._thread.start()

    def _run(self, listen, uri):
        try:
            resp = fcgi_request(listen, uri, timeout=40)
            self._outcome = ("ok", json.loads(resp.body)["pid"]) if resp.status == 200 else ("status", resp.status)
        except FcgiClosed as e:
            self._outcome = ("closed", str(e))

    def result(self, timeout=40):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the request in flight never ended")
        return self._outcome


def started_marker(sup, name):
    """(path, predicate) of a marker file `name` in the apps of a
    procinfo_supervisor (SCRATCH/ta/markers), which a request's `started=` writes."""
    path = os.path.join(os.path.dirname(sup.config_path), "ta", "markers", name)
    return path, lambda: os.path.exists(path)


def slow_request(sup, pool, ms, apps):
    """Starts a `ms` long request on pool; returns (thread, result dict) once it runs."""
    marker = os.path.join(apps, "markers", f"slow-{uuid.uuid4().hex}")
    result = {}

    def run():
        try:
            result["resp"] = proc_get(sup, pool, f"/proc/slow?ms={ms}&started={quote(marker, safe='')}",
                                      timeout=60)
        except Exception as e:  # reported by the caller
            result["error"] = e

    th = threading.Thread(target=run, daemon=True)
    th.start()
    wait_for(lambda: os.path.exists(marker), 10, what=f"a slow request on {pool} to start")
    return th, result
