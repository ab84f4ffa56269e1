"""bench/density_report.py turns bench/density.py's results into the density
section of docs/benchmarks.md, and bench/density.py parses FastCGI responses
and picks tenants. Here both are fed made-up results whose medians and
verdicts are known: samples pooled over rounds, then median (min–max); the
issue's targets judged on the medians; failures summed and named; the
section replaced in place, inside the part bench/report.py keeps.

Run by the Python the build embeds, stdlib only. Prints `ok NAME` or
`FAIL NAME: reason` per check, then `P passed, F failed`.
"""
import os
import sys
import tempfile

SOURCE = os.environ.get("WSGI_FPM_SOURCE") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(SOURCE, "bench"))

import density  # noqa: E402
import density_report as dr  # noqa: E402
import report  # noqa: E402
from checks import run_checks  # noqa: E402


def record(rnd, n, server, cold, sup_kb=2048, cpu=0.01, reload_s=(0.2,), failures=None):
    """One line of density.py's results file, as measure() writes it."""
    return {
        "round": rnd, "tenants": n, "server": server, "failures": failures or {},
        "cold_ms": list(cold), "warm_ms": [0.5, 0.7], "worker_pss_kb": [3072], "woken": [1, 1],
        "start": {"listen_s": 0.5, "serve_s": 0.6},
        "idle": {"supervisor_pss_kb": sup_kb, "total_pss_kb": sup_kb * 2, "processes": 1, "workers": 0,
                 "seconds": 20, "supervisor_cpu_percent": cpu, "tree_cpu_percent": cpu,
                 "wakeups_per_s": 1.0, "machine_busy_percent": 3.0},
        "reload": [{"command_s": None if server == "php-fpm" else r / 2, "changed_s": r, "other_s": r * 2}
                   for r in reload_s],
        "stop_s": 0.1,
    }


META = {"command": "scripts/bench --density", "started": "2026-12-07 04:00 UTC",
        "finished": "2026-12-07 04:15 UTC", "cold_samples": 3, "reloads": 1, "idle_seconds": 20}


def two_rounds():
    return [
        record(1, 100, "wsgi-fpm", [10, 20, 30], sup_kb=2048, cpu=0.02, reload_s=(0.3,)),
        record(2, 100, "wsgi-fpm", [40, 50, 60], sup_kb=4096, cpu=0.04, reload_s=(0.4,)),
        record(1, 100, "php-fpm", [20, 25, 30], sup_kb=16384, cpu=0.0),
        record(2, 100, "php-fpm", [35, 40, 45], sup_kb=16384, cpu=0.0),
        record(1, 1000, "wsgi-fpm", [5, 6, 7], cpu=0.8, reload_s=(0.9,), failures={"cold": 1}),
        record(2, 1000, "wsgi-fpm", [8, 9], cpu=0.6, reload_s=(1.1,), failures={"cold": 2, "idle": 1}),
        record(1, 1000, "php-fpm", [10, 11, 12], cpu=0.0),
        record(2, 1000, "php-fpm", [13, 14, 15], cpu=0.0),
    ]


def expect_line(text, want):
    if want not in text.splitlines():
        near = [l for l in text.splitlines() if l.split("|")[1:2] == want.split("|")[1:2]]
        raise AssertionError(f"missing line {want!r}; nearest: {near}")


def samples_are_pooled_over_rounds():
    page = dr.render(two_rounds(), META)
    # Cold: six samples of N=100, median of 30 and 40.
    expect_line(page, "| cold first byte, ms | 35.0 (10.0–60.0) | 32.5 (20.0–45.0) |")
    # Supervisor PSS: one value a round, 2 and 4 MB.
    expect_line(page, "| supervisor / master PSS idle, MB | 3.0 (2.0–4.0) | 16.0 (16.0–16.0) |")
    # PHP-FPM has no reload command: a dash, not a zero.
    expect_line(page, "| reload: command returned, s | 0.175 (0.150–0.200) | — |")
    if dr.med_range([]) != "—" or dr.med_range([1.234], 2) != "1.23":
        raise AssertionError("one value prints alone, none as a dash")


def targets_are_judged_on_medians():
    verdicts = {(t, n): (fig, ok) for t, n, fig, ok in dr.verdicts(two_rounds())}
    cpu = verdicts[("1000 idle pools ≤ 0.05% of a core (wsgi-fpm)", 1000)]
    if cpu != ("0.700%", False):
        raise AssertionError(f"idle CPU verdict {cpu}")
    if verdicts[("cold first byte below PHP-FPM's (wsgi-fpm)", 100)] != ("35.0 vs 32.5 ms", False):
        raise AssertionError("N=100: 35 ms is not below 32.5 ms")
    if verdicts[("cold first byte below PHP-FPM's (wsgi-fpm)", 1000)] != ("7.0 vs 12.5 ms", True):
        raise AssertionError("N=1000: 7 ms is below 12.5 ms")
    if verdicts[("reload of 1000 pools, one changed, < 0.5 s (wsgi-fpm)", 1000)] != ("1.000 s", False):
        raise AssertionError("reload verdict")
    page = dr.render(two_rounds(), META)
    expect_line(page, "| 1000 idle pools ≤ 0.05% of a core (wsgi-fpm) | 1000 | 0.700% | **no** |")
    expect_line(page, "| cold first byte below PHP-FPM's (wsgi-fpm) | 1000 | 7.0 vs 12.5 ms | yes |")


def failures_are_summed_and_named():
    page = dr.render(two_rounds(), META)
    expect_line(page, "| failures counted | 3 cold, 1 idle | 0 |")


def the_section_is_replaced_inside_the_kept_part():
    generated = "# Benchmarks\n\nfigures\n\n"
    hand = report.KEEP_MARKER + "\n\n## Notes by hand\n\nkept as written\n"
    first = dr.replace_section(generated + hand, dr.render(two_rounds(), META))
    if not first.startswith(generated + report.KEEP_MARKER + "\n"):
        raise AssertionError("the section must follow the marker, the generated part untouched")
    if not first.endswith("## Notes by hand\n\nkept as written\n"):
        raise AssertionError("the hand-written notes were not kept")
    second = dr.replace_section(first, dr.render(two_rounds()[:4], META))
    if second.count(dr.BEGIN_MARKER) != 1 or second.count(dr.END_MARKER) != 1:
        raise AssertionError("a second run must replace the section, not add one")
    if "### N = 1000" in second or not second.endswith("kept as written\n"):
        raise AssertionError("the old section's figures stayed, or the notes went")
    # scripts/bench's other mode rewrites the generated part and keeps this one whole.
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "benchmarks.md")
        with open(path, "w") as f:
            f.write(second)
        if dr.BEGIN_MARKER not in report.kept_part(path):
            raise AssertionError("bench/report.py would drop the density section")
    if dr.KEEP_MARKER != report.KEEP_MARKER:
        raise AssertionError("the two reports disagree on the marker")


def fastcgi_status_and_tenants():
    if density.parse_status(b"Content-Type: text/plain\r\n\r\nHello, world!\n") != 200:
        raise AssertionError("no Status header means 200")
    if density.parse_status(b"Status: 503 Service Unavailable\r\nContent-Type: text/plain\r\n\r\n") != 503:
        raise AssertionError("Status header not read")
    if density.parse_status(b"") != 0:
        raise AssertionError("an empty stdout is no response")
    cold, reloads = density.tenant_plan(100, 5, 3)
    picked = cold + [t for pair in reloads for t in pair]
    if len(set(picked)) != 11 or min(picked) < 1 or max(picked) >= 100:
        raise AssertionError(f"tenants must be distinct and leave out N, the start probe: {picked}")


def main():
    checks = [samples_are_pooled_over_rounds, targets_are_judged_on_medians,
              failures_are_summed_and_named, the_section_is_replaced_inside_the_kept_part,
              fastcgi_status_and_tenants]
    run_checks("density", checks)


if __name__ == "__main__":
    main()
