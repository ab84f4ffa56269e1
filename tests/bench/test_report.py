"""bench/report.py turns scripts/bench's raw measurements into
docs/benchmarks.md. A wrong ratio there would mislead every design decision
taken from it, so here it is fed made-up measurements whose ratios are known
and must come out as written: per round, then median (min-max); the issue's
targets judged in every round; errors summed; the hand-written part of the
page kept.

Run by the Python the build embeds, stdlib only. Prints `ok NAME` or
`FAIL NAME: reason` per check, then `P passed, F failed`.
"""
import json
import os
import subprocess
import sys
import tempfile

SOURCE = os.environ.get("WSGI_FPM_SOURCE") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REPORT = os.path.join(SOURCE, "bench", "report.py")
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(REPORT))

import report  # noqa: E402
from checks import run_checks  # noqa: E402


def measurement(rnd, workload, server, rps, p99_us=500.0, errors=0, workers_kb=(10240, 10240),
                kind="direct"):
    """One line of scripts/bench's results file, as `record` writes it."""
    duration = 5.0
    requests = int(rps * duration)
    return {
        "round": rnd, "workload": workload, "server": server, "kind": kind,
        "result": {
            "protocol": "fastcgi", "connections": 8, "threads": 1, "keep_alive": False,
            "duration": duration, "requests": requests, "ok": requests - errors,
            "requests_per_second": rps,
            "latency_us": {"p50": p99_us / 4, "p90": p99_us / 2, "p99": p99_us, "p99_9": p99_us * 2,
                           "max": p99_us * 3, "min": 10.0, "mean": p99_us / 3},
            "errors": {"total": errors, "connect": 0, "io": errors, "protocol": 0, "status": 0},
            "loadgen_cpu_seconds": {"user": 1.0, "system": 2.0},
        },
        "memory": {"workers": list(workers_kb), "master": 5120,
                   "workers_pss_private": [[k // 2, k // 4] for k in workers_kb],
                   "master_pss_private": [2048, 1024]},
        "server_cpu_seconds": 4.0,
        "background_busy_percent": 1.0,
    }


def write_results(path, records):
    with open(path, "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def three_rounds():
    """hello: wsgi-fpm 1.5, 1.2 and 2.0 times uWSGI; p99 0.8, 1.1, 0.9 times.
    echo-1m: 1.1, 0.9, 1.3 times. Memory: wsgi-fpm's workers 10 MiB, uWSGI
    --lazy-apps' 12 MiB."""
    records = []
    for rnd, (hello, p99, post) in enumerate([(1.5, 0.8, 1.1), (1.2, 1.1, 0.9), (2.0, 0.9, 1.3)]):
        records += [
            measurement(rnd, "hello", "uwsgi", 1000.0, p99_us=1000.0, workers_kb=(9000, 9000)),
            measurement(rnd, "hello", "wsgi-fpm", 1000.0 * hello, p99_us=1000.0 * p99),
            measurement(rnd, "hello", "uwsgi-lazy", 900.0, workers_kb=(12288, 12288)),
            measurement(rnd, "echo-1m", "uwsgi", 100.0),
            measurement(rnd, "echo-1m", "wsgi-fpm", 100.0 * post),
        ]
    return records


def load(records):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        path = f.name
    try:
        write_results(path, records)
        return report.load(path)
    finally:
        os.unlink(path)


def expect_line(text, want):
    if want not in text:
        raise AssertionError(f"expected the line\n  {want}\nin\n{text}")


# --------------------------------------------------------------------------


def ratios_are_taken_within_each_round():
    runs, _ = load(three_rounds())
    got = [round(x, 6) for x in report.ratios(runs, "hello", "wsgi-fpm", "uwsgi", report.rps)]
    if got != [1.5, 1.2, 2.0]:
        raise AssertionError(f"hello ratios per round: expected [1.5, 1.2, 2.0], got {got}")
    if report.spread(got) != "1.50 (1.20–2.00)":
        raise AssertionError(f"spread: {report.spread(got)!r}")
    if report.spread([3.0]) != "3.00" or report.spread([]) != "—":
        raise AssertionError("one value prints alone, none as a dash")


def a_round_missing_on_one_side_is_left_out():
    records = [r for r in three_rounds() if not (r["round"] == 2 and r["server"] == "uwsgi")]
    runs, _ = load(records)
    got = [round(x, 6) for x in report.ratios(runs, "hello", "wsgi-fpm", "uwsgi", report.rps)]
    if got != [1.5, 1.2]:
        raise AssertionError(f"only rounds both servers ran: expected [1.5, 1.2], got {got}")


def targets_are_judged_in_every_round():
    runs, _ = load(three_rounds())
    text = report.targets_section(runs)
    expect_line(text, "| hello world, direct FastCGI: ≥ 1.3× uWSGI's requests/s | 1.50 (1.20–2.00); "
                      "1.50, 1.20, 2.00 | yes by the median; missed in 1 of 3 rounds |")
    expect_line(text, "| ... with p99 no worse (ratio ≤ 1) | 0.90 (0.80–1.10); 0.80, 1.10, 0.90 | "
                      "yes by the median; missed in 1 of 3 rounds |")
    expect_line(text, "| 1 MiB POST echoed: ≥ 1× uWSGI's requests/s | 1.10 (0.90–1.30); 1.10, 0.90, 1.30 | "
                      "yes by the median; missed in 1 of 3 rounds |")
    expect_line(text, "| hello world, 14 B: RSS per worker, wsgi-fpm ≤ uWSGI --lazy-apps | 10.0 vs 12.0 MiB | "
                      "yes |")
    expect_line(text, "| zero errors | 0 in all | yes |")


def a_missed_target_says_no():
    records = three_rounds()
    for r in records:
        if r["workload"] == "hello" and r["server"] == "wsgi-fpm":
            r["result"]["requests_per_second"] = 1100.0
            r["memory"]["workers"] = [13312, 13312]
    runs, _ = load(records)
    text = report.targets_section(runs)
    expect_line(text, "| hello world, direct FastCGI: ≥ 1.3× uWSGI's requests/s | 1.10 (1.10–1.10); 1.10, 1.10, 1.10 | "
                      "**no** |")
    expect_line(text, "RSS per worker, wsgi-fpm ≤ uWSGI --lazy-apps | 13.0 vs 12.0 MiB | **no** |")


def errors_anywhere_are_named():
    records = three_rounds()
    records.append(measurement(3, "hello", "uwsgi", 1000.0, errors=2))
    records.append(measurement(3, "hello", "apache+mod_wsgi", 500.0, errors=5, kind="http"))
    runs, _ = load(records)
    expect_line(report.targets_section(runs),
                "| zero errors | uWSGI: 2, Apache mod_wsgi daemon: 5 | **no** |")
    table = report.absolute_table(runs, load(records)[1])
    expect_line(table, "| hello world, 14 B | uWSGI | 1000 (1000–1000) |")


def diet_targets_judge_speed_and_cpu_per_request():
    """Issue 19's rows: requests/s ratios as measured, and CPU per request as
    the peer's over ours (uWSGI spends 4 s on 1000 req/s, wsgi-fpm 4 s on
    2000: half the CPU a request, a ratio of 2)."""
    records = []
    for rnd in range(3):
        records += [measurement(rnd, "hello", "uwsgi", 1000.0), measurement(rnd, "hello", "wsgi-fpm", 2000.0),
                    measurement(rnd, "hello", "nginx+uwsgi", 1000.0, kind="http"),
                    measurement(rnd, "hello", "nginx+wsgi-fpm", 1400.0, kind="http")]
    runs, order = load(records)
    text = report.diet_targets_section(runs)
    expect_line(text, "| hello, direct: ≥ 1.8× uWSGI in every round | 2.00 (2.00–2.00); 2.00, 2.00, 2.00 | yes, in "
                      "every round | 2.00 (2.00–2.00); 2.00, 2.00, 2.00 | yes, in every round |")
    expect_line(text, "| hello, through nginx, a connection per request: ≥ 1.5× nginx → uWSGI | 1.40 (1.40–1.40); "
                      "1.40, 1.40, 1.40 | **no**: missed in 3 of 3 rounds | 1.40 (1.40–1.40); 1.40, 1.40, 1.40 | "
                      "**no**: missed in 3 of 3 rounds |")
    expect_line(text, "keeping FastCGI connections: ≥ 2× nginx → uWSGI | —; — | not measured | —; — | not measured |")
    table = report.ratio_table(runs, order, report.cpu_per_request_inverse, "")
    expect_line(table, "| hello world, 14 B | 2.00 (2.00–2.00) | ")


def the_page_keeps_its_hand_written_part():
    """main() rewrites the generated part, names the command that produced it,
    and keeps everything below the marker as it was."""
    with tempfile.TemporaryDirectory() as d:
        results = os.path.join(d, "results.jsonl")
        output = os.path.join(d, "benchmarks.md")
        write_results(results, three_rounds())
        hand = report.KEEP_MARKER + "\n\n## Notes by hand\n\nA measurement taken by hand.\n"
        with open(output, "w") as f:
            f.write("# an old generated page\n\nold figures\n\n" + hand)
        args = ["--results", results, "--output", output, "--command", "scripts/bench --rounds 3",
                "--started", "t0", "--finished", "t1", "--callgrind", "null"]
        for name in ("rounds", "duration", "warmup", "processes", "threads", "connections",
                     "sleep-threads", "sleep-connections"):
            args += ["--" + name, "3"]
        p = subprocess.run([sys.executable, REPORT, *args], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise AssertionError(f"report.py exited {p.returncode}:\n{p.stderr}")
        with open(output) as f:
            page = f.read()
    if "old figures" in page:
        raise AssertionError("the old generated part survived")
    if not page.endswith(hand):
        raise AssertionError("the hand-written part was not kept as it was")
    expect_line(page, "- Command: `scripts/bench --rounds 3`")
    expect_line(page, "## Throughput: wsgi-fpm ÷ peer")
    expect_line(page, "| hello world, 14 B | 1.50 (1.20–2.00) |")
    if page.count(report.KEEP_MARKER) != 1:
        raise AssertionError("the marker must appear once")


def main():
    checks = [ratios_are_taken_within_each_round, a_round_missing_on_one_side_is_left_out,
              targets_are_judged_in_every_round, a_missed_target_says_no, errors_anywhere_are_named,
              diet_targets_judge_speed_and_cpu_per_request, the_page_keeps_its_hand_written_part]
    run_checks("report", checks)


if __name__ == "__main__":
    main()
