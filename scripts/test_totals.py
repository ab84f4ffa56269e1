"""Sums test cases over every meson test into CI's closing line.

A doctest executable reports "test cases: N | P passed | F failed"; our
integration scenarios end with "P passed, F failed". A test that printed
neither (it crashed, or timed out) counts by its meson result alone.
"""
import json
import re
import sys

DOCTEST = re.compile(r"test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")
PLAIN = re.compile(r"^(\d+) passed, (\d+) failed$", re.M)


def counts(entry):
    out = entry.get("stdout", "") or ""
    ok = entry.get("result") == "OK"
    m = DOCTEST.findall(out)
    if m:
        passed, failed = int(m[-1][1]), int(m[-1][2])
    else:
        m = PLAIN.findall(out)
        if not m:
            return (1, 0) if ok else (0, 1)
        passed, failed = int(m[-1][0]), int(m[-1][1])
    if not ok and failed == 0:
        failed = 1  # it said all passed but exited non-zero: trust the exit
    return passed, failed


def main(path):
    passed = failed = 0
    try:
        with open(path) as f:
            for line in f:
                if line.strip():
                    p, fl = counts(json.loads(line))
                    passed += p
                    failed += fl
    except OSError as e:
        print(f"no test log: {e}")
        failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
