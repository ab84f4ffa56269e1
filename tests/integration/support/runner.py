"""The tiny runner every story ends with: Runner prints `ok NAME` or
`FAIL NAME: reason` per test and exactly `P passed, F failed` as the last
line of stdout (details go to stderr); Group shares an expensive fixture
between the tests that need it."""
import sys
import time
import traceback

from .cleanup import clean_up


class Runner:
    """Runs test functions in order: `ok NAME` or `FAIL NAME: reason` each,
    then exactly `P passed, F failed` as the last line of stdout."""

    def __init__(self, budget=540):
        self.tests = []
        self.deadline = time.monotonic() + budget

    def add(self, name, fn, *args):
        self.tests.append((name, fn, args))

    def run_one(self, name, fn, args):
        if time.monotonic() > self.deadline:
            return False, "not run: the file's time budget is spent"
        try:
            fn(*args)
            return True, ""
        except SystemExit:
            raise
        except BaseException as e:  # a test's failure must not stop the others
            traceback.print_exc(file=sys.stderr)
            reason = (str(e).strip() or type(e).__name__).splitlines()[0]
            if len(reason) > 400:  # the whole story is on stderr
                reason = reason[:400] + "..."
            return False, reason

    def main(self):
        passed = failed = 0
        try:
            for name, fn, args in self.tests:
                print(f"# {name}", file=sys.stderr, flush=True)
                ok, reason = self.run_one(name, fn, args)
                if ok:
                    passed += 1
                    print(f"ok {name}", flush=True)
                else:
                    failed += 1
                    print(f"FAIL {name}: {reason}", flush=True)
        finally:
            clean_up()
            ran = passed + failed
            failed += len(self.tests) - ran  # interrupted: the rest count as failed
            print(f"{passed} passed, {failed} failed", flush=True)
        sys.exit(1 if failed or not passed else 0)


class Group:
    """Tests that share an expensive fixture (a serve + an nginx). The fixture
    starts on the first test that needs it; if it cannot start, each of its
    tests fails with that reason instead of crashing the file."""

    def __init__(self, setup):
        self._setup = setup
        self._value = None
        self._error = None
        self._teardowns = []

    def get(self):
        if self._error:
            raise AssertionError(f"setup failed: {self._error}")
        if self._value is None:
            try:
                self._value = self._setup(self._teardowns.append)
            except Exception as e:
                self._error = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                traceback.print_exc(file=sys.stderr)
                self.close()
                raise AssertionError(f"setup failed: {self._error}") from e
        return self._value

    def close(self):
        while self._teardowns:
            try:
                self._teardowns.pop()()
            except Exception:
                traceback.print_exc(file=sys.stderr)
