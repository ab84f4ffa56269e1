"""Writes docs/benchmarks.md from the results scripts/bench collected.

Each line of the results file is one measurement: a round, a workload, a
server, the load generator's (or wrk's) JSON, the server's memory and CPU.
Ratios are taken within a round (wsgi-fpm and its peer measured minutes apart
on the same machine), then summarized as median (min-max) over the rounds.
"""

import argparse
import collections
import json
import os
import platform
import statistics
import subprocess
import sys

# The Python wsgi-fpm embeds: scripts/bench runs this with it.
PY_VERSION = "%d.%d" % sys.version_info[:2]

DIRECT_PEERS = [("uwsgi", "uWSGI"), ("uwsgi-lazy", "uWSGI --lazy-apps"), ("php-fpm", "PHP-FPM"),
                ("libfcgi", "libfcgi C responder")]
HTTP_PEERS = [("nginx+uwsgi", "nginx → uWSGI"), ("apache+mod_wsgi", "Apache mod_wsgi")]
WORKLOAD_TEXT = {
    "hello": "hello world, 14 B",
    "hello-ka": "hello world, FastCGI keep-alive",
    "64k": "64 KiB response",
    "echo-1m": "1 MiB POST echoed",
    "sleep-10ms": "app sleeps 10 ms",
    "flask": "Flask hello world",
    "django": "Django view",
}
SERVER_TEXT = {
    "wsgi-fpm": "wsgi-fpm", "wsgi-fpm-fork": "wsgi-fpm preload-fork", "uwsgi": "uWSGI", "uwsgi-lazy": "uWSGI --lazy-apps", "php-fpm": "PHP-FPM (hello.php)",
    "libfcgi": "libfcgi C responder", "nginx+wsgi-fpm": "nginx → wsgi-fpm",
    "nginx-ka+wsgi-fpm": "nginx, FastCGI keep-alive → wsgi-fpm",
    "wsgi-fpm-gen2": "wsgi-fpm, generator on 2 threads",
    "libfcgi-gen2": "libfcgi C responder, generator on 2 threads",
    "nginx+uwsgi": "nginx → uWSGI", "apache+mod_wsgi": "Apache mod_wsgi daemon",
}


def load(path):
    runs = collections.defaultdict(dict)  # (workload, server) -> round -> record
    order = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            r = json.loads(line)
            key = (r["workload"], r["server"])
            if key not in runs:
                order.append(key)
            runs[key][r["round"]] = r
    return runs, order


def spread(values, fmt="{:.2f}"):
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return (fmt + " ({}–{})").format(med, fmt.format(min(values)), fmt.format(max(values)))


def rps(r):
    return r["result"]["requests_per_second"]


def ratios(runs, workload, ours, peer, metric):
    a, b = runs.get((workload, ours), {}), runs.get((workload, peer), {})
    out = []
    for rnd in sorted(set(a) & set(b)):
        x, y = metric(a[rnd]), metric(b[rnd])
        if x and y:
            out.append(x / y)
    return out


def workloads_in(order):
    seen = []
    for w, _ in order:
        if w not in seen:
            seen.append(w)
    return seen


def ratio_table(runs, order, metric, note):
    # The memory models side by side: wsgi-fpm with preload-fork against
    # uWSGI's default (both fork from a process that imported the app).
    cols = [("wsgi-fpm", p, "direct: " + t) for p, t in DIRECT_PEERS[:1]] + \
           [("wsgi-fpm-fork", "uwsgi", "direct, preload-fork: uWSGI")] + \
           [("wsgi-fpm", p, "direct: " + t) for p, t in DIRECT_PEERS[1:]] + \
           [("nginx+wsgi-fpm", p, "HTTP: " + t) for p, t in HTTP_PEERS] + \
           [("nginx-ka+wsgi-fpm", "nginx+uwsgi", "HTTP, nginx keeping FastCGI connections: nginx → uWSGI")]
    lines = ["| workload | " + " | ".join(c[2] for c in cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    for w in workloads_in(order):
        cells = [spread(ratios(runs, w, ours, peer, metric)) for ours, peer, _ in cols]
        lines.append("| %s | %s |" % (WORKLOAD_TEXT.get(w, w), " | ".join(cells)))
    return "\n".join(lines) + "\n\n" + note + "\n"


def per_request_us(r):
    n = r["result"]["requests"]
    return r["server_cpu_seconds"] * 1e6 / n if n else 0


def absolute_table(runs, order):
    lines = ["| workload | server | requests/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU µs/request | client CPU |",
             "|---|---|---|---|---|---|---|---|---|"]
    for w, s in order:
        rs = [runs[(w, s)][k] for k in sorted(runs[(w, s)])]
        lat = lambda q: [r["result"]["latency_us"][q] / 1e3 for r in rs]
        errors = sum(r["result"]["errors"]["total"] for r in rs)
        client = "wrk"
        if rs[0]["kind"] == "direct":
            cpu = [100 * (r["result"]["loadgen_cpu_seconds"]["user"] + r["result"]["loadgen_cpu_seconds"]["system"])
                   / r["result"]["duration"] for r in rs]
            client = "%.0f%%" % statistics.median(cpu)
        lines.append("| %s | %s | %s | %s | %s | %s | %d | %s | %s |" % (
            WORKLOAD_TEXT.get(w, w), SERVER_TEXT.get(s, s), spread([rps(r) for r in rs], "{:.0f}"),
            spread(lat("p50"), "{:.3f}"), spread(lat("p99"), "{:.3f}"), spread(lat("p99_9"), "{:.3f}"),
            errors, spread([per_request_us(r) for r in rs], "{:.0f}"), client))
    return "\n".join(lines) + "\n"


def memory_table(runs, order):
    lines = ["| workload | server | workers | RSS per worker MiB | PSS per worker MiB | private per worker MiB "
             "| all processes PSS MiB | master RSS MiB |",
             "|---|---|---|---|---|---|---|---|"]
    mib = lambda kb: kb / 1024
    for w, s in order:
        # nginx's runs repeat the direct ones' backends; Apache's daemon processes appear only there.
        if w not in ("hello", "flask") or s in ("nginx+wsgi-fpm", "nginx-ka+wsgi-fpm", "nginx+uwsgi", "wsgi-fpm-gen2",
                                                "libfcgi-gen2"):
            continue
        rs = [runs[(w, s)][k] for k in sorted(runs[(w, s)])]
        mem = [r["memory"] for r in rs]
        if s == "libfcgi":  # one process, no master
            per = [mib(m["master"]) for m in mem]
            pss = [mib(m["master_pss_private"][0]) for m in mem if m.get("master_pss_private")]
            private = [mib(m["master_pss_private"][1]) for m in mem if m.get("master_pss_private")]
            lines.append("| %s | %s | 1 | %s | %s | %s | %s | — |" % (
                WORKLOAD_TEXT[w], SERVER_TEXT[s], spread(per, "{:.1f}"), spread(pss, "{:.1f}"),
                spread(private, "{:.1f}"), spread(pss, "{:.1f}")))
            continue
        workers = [k for m in mem for k in m["workers"]]
        if not workers:
            continue
        detail = [d for m in mem for d in m.get("workers_pss_private", [])]
        totals = [mib(sum(d[0] for d in m.get("workers_pss_private", [])) + m.get("master_pss_private", [0])[0])
                  for m in mem if m.get("workers_pss_private")]
        lines.append("| %s | %s | %d | %s | %s | %s | %s | %s |" % (
            WORKLOAD_TEXT[w], SERVER_TEXT.get(s, s), len(mem[0]["workers"]),
            spread([mib(k) for k in workers], "{:.1f}"), spread([mib(d[0]) for d in detail], "{:.1f}"),
            spread([mib(d[1]) for d in detail], "{:.1f}"), spread(totals, "{:.1f}"),
            spread([mib(m["master"]) for m in mem], "{:.1f}")))
    return "\n".join(lines) + "\n"


def generator_cpu_share(r):
    x = r["result"]
    return (x["loadgen_cpu_seconds"]["user"] + x["loadgen_cpu_seconds"]["system"]) / x["duration"]


def saturation(runs):
    """The generator against the cheapest responder, and against the fastest
    server of the hello row: who runs out of CPU first."""
    parts = []
    for workload, server in (("hello-ka", "libfcgi"), ("hello-ka", "libfcgi-gen2"), ("hello", "libfcgi"),
                             ("hello", "libfcgi-gen2")):
        rs = list(runs.get((workload, server), {}).values())
        if not rs:
            continue
        res = [r["result"] for r in rs]
        rate = statistics.median(x["requests_per_second"] for x in res)
        gen = statistics.median(100 * generator_cpu_share(r) for r in rs)
        user_us = statistics.median(1e6 * x["loadgen_cpu_seconds"]["user"] / max(1, x["requests"]) for x in res)
        srv = statistics.median(100 * r["server_cpu_seconds"] / r["result"]["duration"] for r in rs)
        threads = res[0].get("threads", 1)
        parts.append("- %s, %d connections, the generator on %d thread%s: %.0f requests/s; the generator used "
                     "%.0f%% of one core (%.1f µs of user time per request, the rest in the kernel), the "
                     "responder %.0f%%."
                     % ("keep-alive" if res[0]["keep_alive"] else "a connection per request",
                        res[0]["connections"], threads, "" if threads == 1 else "s", rate, gen, user_us, srv))
    if not parts:
        return "(no libfcgi responder run)\n"
    text = ("The libfcgi C responder (bench/fcgi_responder.c) is the cheapest FastCGI server there is (one "
            "process, as many threads as the Python servers have in all); the generator drives it as "
            "follows:\n\n" + "\n".join(parts) + "\n\n")
    busiest = None
    for (w, s), by_round in runs.items():
        if s not in ("libfcgi", "libfcgi-gen2"):
            continue
        both = statistics.median(100 * (generator_cpu_share(r) + r["server_cpu_seconds"] / r["result"]["duration"])
                                 for r in by_round.values())
        if busiest is None or both > busiest:
            busiest = both
    text += ("At its busiest the generator and the responder together kept %.0f%% of the machine's 200%% busy: "
             "the responder gets what the generator leaves of two cores, and takes all of it.\n\n" % busiest)
    # The fastest server of the hello row, and how close the generator came to
    # a core of its own there (a connection per request costs the generator a
    # socket, a connect and a close each: its dearest mode).
    fastest = None
    for (w, s), by_round in runs.items():
        if w != "hello" or s == "wsgi-fpm-gen2" or next(iter(by_round.values()))["kind"] != "direct":
            continue
        rate = statistics.median(rps(r) for r in by_round.values())
        if fastest is None or rate > fastest[1]:
            fastest = (s, rate, statistics.median(100 * generator_cpu_share(r) for r in by_round.values()),
                       max(100 * generator_cpu_share(r) for r in by_round.values()))
    if fastest:
        s, rate, share, most = fastest
        text += ("The fastest server of the hello row, %s, served %.0f requests/s with the generator at "
                 "%.0f%% of one core (%.0f%% at most in a round). " % (SERVER_TEXT.get(s, s), rate, share, most))
        if most >= 85:
            text += "That is close to a core of its own. "
        else:
            text += "The generator had CPU to spare. "
    two = ratios(runs, "hello", "wsgi-fpm-gen2", "wsgi-fpm", rps)
    if two:
        text += ("Driven by two generator threads instead of one (`--threads 2`, the same 8 connections), "
                 "wsgi-fpm served %s times as many requests/s (median, min–max over the rounds; p99 %s times "
                 "as long). " % (spread(two), spread(ratios(runs, "hello", "wsgi-fpm-gen2", "wsgi-fpm",
                                                                lambda r: r["result"]["latency_us"]["p99"]))))
        if statistics.median(two) >= 1.05:
            text += ("So one generator thread holds the fastest rows down: ratios in wsgi-fpm's favour there "
                     "are, if anything, understated.\n")
        else:
            text += ("So a second generator thread buys nothing: with the generator and the server sharing two "
                     "cores, it is the machine, not the generator, that sets the ceiling.\n")
    else:
        text += "\n"
    return text


def background_note(runs):
    busy = [r.get("background_busy_percent", 0) for per in runs.values() for r in per.values()]
    if not busy:
        return ""
    text = ("Other work on the machine, sampled for 0.5 s before each measurement while the server was idle: "
            "median %.0f%%, max %.0f%% of the CPU busy." % (statistics.median(busy), max(busy)))
    if max(busy) > 10:
        text += (" **Some runs shared the machine with other work**; the rounds and the min–max spread are "
                 "there to show how much that moved the numbers.")
    return text + "\n"


CALLGRIND_TEXT = {"wsgi-fpm": "wsgi-fpm worker", "uwsgi": "uWSGI (no master)", "libfcgi": "libfcgi C responder"}


def callgrind_section(cg):
    if not cg:
        return "Not measured in this run (valgrind missing, or --no-callgrind).\n"
    any_run = next(iter(cg.values()))
    lines = ["Each server as one process with one thread, serving hello world (the C responder: its 14 "
             "bytes) with a new connection per request: the Ir of a process that served %d requests minus "
             "the Ir of one that served only the readiness probe, divided by %d. User space only: the "
             "kernel's share (socket calls, wake-ups) is not counted.\n" % (any_run["requests"], any_run["requests"]),
             "| server | instructions per request | of which Python | libc | the server's own code |",
             "|---|---|---|---|---|"]
    for server, run in cg.items():
        libs = {e["library"]: e["ir"] for e in run["by_library"]}
        python = sum(v for k, v in libs.items() if k.startswith("libpython"))
        libc = libs.get("libc.so.6", 0)
        own = run["ir_per_request"] - python - libc
        lines.append("| %s | %.0f | %.0f | %.0f | %.0f |" % (CALLGRIND_TEXT.get(server, server),
                                                          run["ir_per_request"], python, libc, own))
    ours = cg.get("wsgi-fpm")
    if ours:
        total = ours["ir_per_request"] or 1
        lines += ["", "Where the wsgi-fpm worker's instructions go, by library (self cost per request):\n",
                  "| library | Ir per request | share |", "|---|---|---|"]
        for e in ours["by_library"]:
            if e["ir"] >= 1:
                lines.append("| %s | %d | %.0f%% |" % (e["library"], e["ir"], 100 * e["ir"] / total))
        lines += ["", "Its top functions (self cost per request; Debian's libpython has no symbols for its "
                  "static functions, hence the addresses):\n",
                  "| function | library | Ir per request |", "|---|---|---|"]
        for e in ours["top_functions"][:20]:
            lines.append("| `%s` | %s | %d |" % (e["function"].replace("|", "\\|"), e["library"], e["ir"]))
    return "\n".join(lines) + "\n"


def rounds_text(values, fmt="{:.2f}"):
    return ", ".join(fmt.format(v) for v in values) if values else "—"


def worker_rss_mib(runs, workload, server):
    """Median RSS of one worker over every worker of every round, in MiB."""
    rss = [k / 1024 for r in runs.get((workload, server), {}).values() for k in r["memory"]["workers"]]
    return statistics.median(rss) if rss else None


def cpu_per_request_inverse(r):
    """1 / server CPU per request: a ratio of these is the peer's CPU per
    request over ours (above 1: wsgi-fpm spent less)."""
    us = per_request_us(r)
    return 1 / us if us else 0


def diet_targets_section(runs):
    """Issue 19's targets, each for requests/s and for server CPU per request
    (which varies less on a shared machine), every round shown."""
    lines = ["| target | requests/s: median (every round) | met? | server CPU per request: median (every round) "
             "| met? |", "|---|---|---|---|---|"]

    def verdict(values, bound):
        if not values:
            return "not measured"
        missed = sum(1 for v in values if v < bound)
        return "yes, in every round" if missed == 0 else "**no**: missed in %d of %d rounds" % (missed, len(values))

    for text, ours, peer, bound in (
            ("hello, direct: ≥ 1.8× uWSGI in every round", "wsgi-fpm", "uwsgi", 1.8),
            ("hello, through nginx, a connection per request: ≥ 1.5× nginx → uWSGI", "nginx+wsgi-fpm",
             "nginx+uwsgi", 1.5),
            ("hello, through nginx keeping FastCGI connections: ≥ 2× nginx → uWSGI", "nginx-ka+wsgi-fpm",
             "nginx+uwsgi", 2.0)):
        speed = ratios(runs, "hello", ours, peer, rps)
        cpu = ratios(runs, "hello", ours, peer, cpu_per_request_inverse)
        lines.append("| %s | %s; %s | %s | %s; %s | %s |" % (
            text, spread(speed), rounds_text(speed), verdict(speed, bound), spread(cpu), rounds_text(cpu),
            verdict(cpu, bound)))
    return "\n".join(lines) + "\n"


def targets_section(runs):
    """Issue 5's targets, judged from this run alone: each ratio in every round
    and its median, so that a target met by the median but missed in a round
    shows as such."""
    lines = ["| target | figure (median; every round) | met? |", "|---|---|---|"]

    def verdict(values, ok):
        if not values:
            return "not measured"
        missed = sum(1 for v in values if not ok(v))
        if missed == 0:
            return "yes, in every round"
        return ("yes by the median; missed in %d of %d rounds" % (missed, len(values))
                if ok(statistics.median(values)) else "**no**")

    hello = ratios(runs, "hello", "wsgi-fpm", "uwsgi", rps)
    hello_p99 = ratios(runs, "hello", "wsgi-fpm", "uwsgi", lambda r: r["result"]["latency_us"]["p99"])
    lines.append("| hello world, direct FastCGI: ≥ 1.3× uWSGI's requests/s | %s; %s | %s |" % (
        spread(hello), rounds_text(hello), verdict(hello, lambda v: v >= 1.3)))
    lines.append("| ... with p99 no worse (ratio ≤ 1) | %s; %s | %s |" % (
        spread(hello_p99), rounds_text(hello_p99), verdict(hello_p99, lambda v: v <= 1.0)))
    post = ratios(runs, "echo-1m", "wsgi-fpm", "uwsgi", rps)
    lines.append("| 1 MiB POST echoed: ≥ 1× uWSGI's requests/s | %s; %s | %s |" % (
        spread(post), rounds_text(post), verdict(post, lambda v: v >= 1.0)))
    # RSS per worker, each memory model against its like: workers that import
    # the app themselves (wsgi-fpm's default, as mod_wsgi; uWSGI --lazy-apps),
    # and workers forked from a process that imported it (wsgi-fpm
    # preload-fork; uWSGI's default). The two defaults side by side are shown
    # too, but a forked worker's RSS leaves out every page its parent touched
    # before fork(), so that row judges nothing: the PSS columns do.
    rows = (("wsgi-fpm", "uwsgi-lazy", True), ("wsgi-fpm-fork", "uwsgi", True), ("wsgi-fpm", "uwsgi", False))
    for w in ("hello", "flask"):
        for ours, peer, judged in rows:
            a, b = worker_rss_mib(runs, w, ours), worker_rss_mib(runs, w, peer)
            if a is None or b is None:
                continue
            if judged:
                lines.append("| %s: RSS per worker, %s ≤ %s | %.1f vs %.1f MiB | %s |" % (
                    WORKLOAD_TEXT[w], SERVER_TEXT[ours], SERVER_TEXT[peer], a, b, "yes" if a <= b else "**no**"))
            else:
                lines.append("| %s: RSS per worker, the defaults (%s exec'd, %s forked) | %.1f vs %.1f MiB | "
                             "%s |" % (WORKLOAD_TEXT[w], SERVER_TEXT[ours], SERVER_TEXT[peer], a, b,
                                       "yes" if a <= b else "not judged: different memory models"))
    errors = collections.Counter()
    for (w, s), by_round in runs.items():
        for r in by_round.values():
            errors[SERVER_TEXT.get(s, s)] += r["result"]["errors"]["total"]
    total = sum(errors.values())
    lines.append("| zero errors | %s | %s |" % (
        "%d in all" % total if total == 0 else ", ".join("%s: %d" % kv for kv in errors.items() if kv[1]),
        "yes" if total == 0 else "**no**"))
    return "\n".join(lines) + "\n"


# Everything after this line in an existing output file is kept as it is:
# notes and by-hand measurements written beside the generated figures.
KEEP_MARKER = "<!-- Written by hand below this line; scripts/bench keeps it. -->"


def kept_part(path):
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return ""
    at = text.find(KEEP_MARKER)
    return text[at:] if at >= 0 else ""


def versions():
    def run(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    def pkg(name):
        return run(["dpkg-query", "-W", "-f=${Version}", name])

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return [
        "CPU: %s, %d cores visible; kernel %s" % (cpu, os.cpu_count(), platform.release()),
        "Debian packages: uwsgi %s, php8.2-fpm %s, libapache2-mod-wsgi-py3 %s, apache2 %s, nginx-light %s, "
        "python%s %s, libfcgi %s, wrk %s" % (pkg("uwsgi"), pkg("php8.2-fpm"), pkg("libapache2-mod-wsgi-py3"),
                                               pkg("apache2"), pkg("nginx-light"), PY_VERSION, pkg("python" + PY_VERSION),
                                               pkg("libfcgi0ldbl"), pkg("wrk")),
    ]


def main():
    ap = argparse.ArgumentParser()
    for name in ("results", "output", "command", "started", "finished", "callgrind"):
        ap.add_argument("--" + name, required=True)
    for name in ("rounds", "duration", "warmup", "processes", "threads", "connections",
                 "sleep-threads", "sleep-connections"):
        ap.add_argument("--" + name, required=True)
    a = ap.parse_args()
    runs, order = load(a.results)
    cg = json.loads(a.callgrind) if a.callgrind not in ("", "null") else None

    doc = []
    doc.append("# Benchmarks\n")
    doc.append("Generated by `scripts/bench`; rerun it to refresh this page. Benchmarks are measurements, "
               "not tests: nothing asserts a number, and numbers from another machine will differ.\n")
    doc.append("- Command: `%s`\n- Date: %s to %s\n- %s\n- %s\n" % (
        a.command.strip(), a.started, a.finished, *versions()))
    doc.append("**Caveat: 2 cores.** The load generator (or wrk, and nginx or Apache in the HTTP runs) and "
               "the server under test share the same two cores, so every absolute number here is lower than "
               "either side would reach alone, and a server that needs less CPU per request leaves more to "
               "the client. Ratios between servers measured the same way are the meaningful output.\n")
    doc.append(background_note(runs))
    doc.append("## Setup\n")
    doc.append(
        "- %s rounds; in each, every server is started fresh from its own temporary config, warmed up for "
        "%s s, measured for %s s, and stopped by pid. Servers are interleaved (the order rotates each round).\n"
        "- Every Python server runs %s processes × %s threads (the sleep workload: %s threads, %s "
        "connections); PHP-FPM runs `pm = static` with processes × threads children; the libfcgi responder "
        "one process with processes × threads threads. Other workloads use %s concurrent connections.\n"
        "- **direct**: `wsgi-fpm-loadgen` (bench/loadgen.cc, C++ on libuv) speaks FastCGI to each server's "
        "UNIX socket, a new connection per request as nginx does by default (uWSGI closes the connection "
        "after each response even when FCGI_KEEP_CONN is set, so it has no keep-alive row).\n"
        "- **HTTP**: `wrk -t1` to nginx (`fastcgi_pass` to wsgi-fpm or uWSGI over a UNIX socket, one "
        "nginx worker) or to Apache (mpm_event, mod_wsgi daemon mode `WSGIDaemonProcess processes=%s "
        "threads=%s`), on 127.0.0.1. nginx opens a FastCGI connection per request, as it does by default, "
        "and, in the rows \"nginx, FastCGI keep-alive\", keeps them as `etc/nginx/wsgi-fpm-fastcgi-keepalive.conf` "
        "does (`keepalive 8`, `fastcgi_keep_conn on`), which uWSGI's FastCGI cannot use.\n"
        "- Apps: `bench/apps/`. wsgi-fpm runs them as `wsgi-fpm serve` does by default, in the main "
        "interpreter (application-group %%{GLOBAL}, as mod_wsgi-express); uWSGI in its main interpreter; "
        "mod_wsgi in its default application group, a sub-interpreter (%%{RESOURCE}).\n"
        "- uWSGI loads the app in its master and forks the workers from it (its default); "
        "`uWSGI --lazy-apps` loads it in each worker after fork(), as wsgi-fpm and mod_wsgi do (their "
        "workers are exec'd, not forked from a loaded master). Only hello and Flask run it.\n"
        "- `wsgi-fpm preload-fork` (`--preload-fork true`) imports the app once, in a template process, "
        "and forks the workers from it, as uWSGI's default does; the column \"direct, preload-fork: uWSGI\" "
        "compares it with uWSGI's default. Only hello and Flask run it. Its template counts with the "
        "master in the memory table, as uWSGI's master (which holds the app) does.\n"
        "- Server CPU is user + system time over the measured seconds (from /proc/PID/stat) of the server's "
        "processes, master and workers; in the HTTP runs it includes nginx, or all of Apache, so that it "
        "is the whole stack's cost per request.\n"
        "- Memory is read from /proc/PID/smaps_rollup after the measurement, for the workers (for Apache, "
        "the mod_wsgi daemon processes) and the master (wsgi-fpm's supervisor; for Apache, its parent "
        "process). RSS counts every page a process maps, shared libraries included, and a forked worker "
        "has not mapped what its master touched before fork(), so RSS alone flatters forked workers; PSS "
        "divides each shared page among the processes sharing it, and private pages are the process's own: "
        "\"all processes PSS\" (master and workers) is what the server costs the machine.\n"
        % (a.rounds, a.warmup, a.duration, a.processes, a.threads, a.sleep_threads, a.sleep_connections,
           a.connections, a.processes, a.threads))
    doc.append("## Issue 5's targets in this run\n")
    doc.append("Ratios wsgi-fpm ÷ uWSGI at equal processes and threads.\n")
    doc.append(targets_section(runs))
    doc.append("## Issue 19's targets in this run\n")
    doc.append("Ratios at equal processes and threads; server CPU per request is the peer's divided by "
               "wsgi-fpm's (above 1: wsgi-fpm spent less). In the HTTP rows it counts nginx too.\n")
    doc.append(diet_targets_section(runs))
    doc.append("## Throughput: wsgi-fpm ÷ peer\n")
    doc.append("Requests per second of wsgi-fpm divided by the peer's, per round; median (min–max) over the "
               "rounds. Above 1: wsgi-fpm served more.\n")
    doc.append(ratio_table(runs, order, rps, "PHP-FPM and libfcgi serve a PHP script and C code, not the WSGI "
                           "app: they show what the protocol and process model cost without Python."))
    doc.append("## Server CPU per request: peer ÷ wsgi-fpm\n")
    doc.append("The server's CPU time (user + system, every process of it; with nginx in front, nginx's "
               "too) per request of the peer divided by wsgi-fpm's, per round. Above 1: wsgi-fpm spent "
               "less. On a shared 2-core machine this varies less than requests/s.\n")
    doc.append(ratio_table(runs, order, cpu_per_request_inverse, ""))
    doc.append("## p99 latency: wsgi-fpm ÷ peer\n")
    doc.append("Below 1: wsgi-fpm's 99th percentile was lower.\n")
    doc.append(ratio_table(runs, order, lambda r: r["result"]["latency_us"]["p99"], ""))
    doc.append("## Memory after warm-up\n")
    doc.append(memory_table(runs, order))
    doc.append("## All measurements\n")
    doc.append("Median (min–max) over the rounds. Client CPU is the load generator's, as a share of one core.\n")
    doc.append(absolute_table(runs, order))
    doc.append("## Is the load generator the bottleneck?\n")
    doc.append(saturation(runs))
    doc.append("## Instructions per request (callgrind)\n")
    doc.append(callgrind_section(cg))
    doc.append("## Reproducing\n")
    doc.append("```\nscripts/bench            # 3 rounds, 5 s runs, about 15 minutes\nscripts/bench --quick    "
               "# 1 round, 1 s runs\nbuild/bench/wsgi-fpm-loadgen --help\n```\n"
               "Raw results of the last run: `build/bench-results.jsonl` (one JSON object per measurement).\n")
    kept = kept_part(a.output)
    with open(a.output, "w") as f:
        f.write("\n".join(doc))
        if kept:
            f.write("\n" + kept)


if __name__ == "__main__":
    main()
