"""Runs a test file's checks: `ok NAME` or `FAIL NAME: reason` each, then the
`P passed, F failed` line scripts/test counts; exits 1 if any failed."""
import sys
import traceback


def run_checks(prefix, checks):
    passed = failed = 0
    for check in checks:
        name = f"{prefix}/{check.__name__}"
        try:
            check()
            passed += 1
            print(f"ok {name}", flush=True)
        except Exception as e:  # one failed check must not hide the others
            traceback.print_exc(file=sys.stderr)
            failed += 1
            print(f"FAIL {name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)
