"""Bounded waits: every wait of the stories ends, in time and in count."""
import time


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    """Polls predicate() until it returns a true value; bounded in time and count."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 2):
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
