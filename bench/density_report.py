"""The density section of docs/benchmarks.md, from bench/density.py's
results (one JSON object per server, N and round). Pure functions, no I/O
but the page itself: tests/bench/test_density_report.py feeds them made-up
results whose medians and verdicts are known.
"""
import statistics

BEGIN_MARKER = "<!-- density: begin (scripts/bench --density writes this part, up to its end marker) -->"
END_MARKER = "<!-- density: end -->"
# bench/report.py keeps everything below this line of the page: the density
# section lives there, so that scripts/bench's other runs leave it alone.
KEEP_MARKER = "<!-- Written by hand below this line; scripts/bench keeps it. -->"
SERVERS = ("wsgi-fpm", "wsgi-fpm-fork", "php-fpm")
LABELS = {"wsgi-fpm": "wsgi-fpm", "wsgi-fpm-fork": "wsgi-fpm preload-fork", "php-fpm": "PHP-FPM"}
IDLE_TIMEOUT = 10  # process-idle-timeout and pm.process_idle_timeout, seconds


def med_range(values, digits=1):
    """'median (min–max)' of the samples, '—' without any."""
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    f = f"{{:.{digits}f}}"
    m = f.format(statistics.median(values))
    if len(values) == 1:
        return m
    return f"{m} ({f.format(min(values))}–{f.format(max(values))})"


def _idle(key, scale=1.0):
    return lambda r: [r["idle"][key] * scale] if key in r["idle"] else []


def _reload(key):
    return lambda r: [x[key] for x in r["reload"] if x.get(key) is not None]


# (label, digits, samples of one record): the rows of a table, in order.
METRICS = [
    ("supervisor / master PSS idle, MB", 1, _idle("supervisor_pss_kb", 1 / 1024)),
    ("whole tree PSS idle, MB", 1, _idle("total_pss_kb", 1 / 1024)),
    ("processes idle (supervisor, templates, workers left)", 0, _idle("processes")),
    ("PSS of one woken worker, MB", 1, lambda r: [v / 1024 for v in r["worker_pss_kb"]]),
    ("processes a cold and a warm request left running", 0, lambda r: r.get("woken", [])),
    ("cold first byte, ms", 1, lambda r: r["cold_ms"]),
    ("warm first byte, ms", 2, lambda r: r["warm_ms"]),
    ("woken again once its workers idled out, first byte, ms", 1, lambda r: r.get("rewake_ms", [])),
    ("start: every socket listening, s", 2, lambda r: [r["start"]["listen_s"]] if "listen_s" in r["start"] else []),
    ("start: workers running that no request asked for", 0,
     lambda r: [r["start"]["unasked_workers"]] if "unasked_workers" in r["start"] else []),
    ("start: first answer, s", 2, lambda r: [r["start"]["serve_s"]] if "serve_s" in r["start"] else []),
    ("reload: command returned, s", 3, _reload("command_s")),
    ("reload: changed pool answers, s", 3, _reload("changed_s")),
    ("reload: an unchanged pool answers, s", 3, _reload("other_s")),
    ("idle CPU of the supervisor / master, % of a core", 3, _idle("supervisor_cpu_percent")),
    ("idle CPU of the whole tree, % of a core", 3, _idle("tree_cpu_percent")),
    ("supervisor / master context switches per second idle", 1, _idle("wakeups_per_s")),
    ("stop, s", 2, lambda r: [r["stop_s"]] if "stop_s" in r else []),
]


def samples(records, n, server, extract):
    out = []
    for r in records:
        if r["tenants"] == n and r["server"] == server:
            out += extract(r)
    return out


def failures(records, n, server):
    total = {}
    for r in records:
        if r["tenants"] == n and r["server"] == server:
            for k, v in r["failures"].items():
                total[k] = total.get(k, 0) + v
    return ", ".join(f"{v} {k}" for k, v in sorted(total.items())) or "0"


def verdicts(records):
    """The issue's targets, judged on the medians: (target, N, figure, met)."""
    out = []
    ns = sorted({r["tenants"] for r in records})
    big = max(ns) if ns else None

    def med(n, server, label):
        extract = next(m[2] for m in METRICS if m[0] == label)
        v = samples(records, n, server, extract)
        return statistics.median(v) if v else None

    for server in ("wsgi-fpm", "wsgi-fpm-fork"):
        if not any(r["server"] == server for r in records):
            continue
        cpu = med(big, server, "idle CPU of the supervisor / master, % of a core")
        out.append((f"{big} idle pools ≤ 0.05% of a core ({LABELS[server]})", big,
                    "—" if cpu is None else f"{cpu:.3f}%", cpu is not None and cpu <= 0.05))
        for n in ns:
            ours = med(n, server, "cold first byte, ms")
            php = med(n, "php-fpm", "cold first byte, ms")
            ok = ours is not None and php is not None and ours < php
            figure = "—" if ours is None or php is None else f"{ours:.1f} vs {php:.1f} ms"
            out.append((f"cold first byte below PHP-FPM's ({LABELS[server]})", n, figure, ok))
        if server == "wsgi-fpm-fork":
            for n in ns:
                again = med(n, server, "woken again once its workers idled out, first byte, ms")
                out.append((f"a recently active tenant's first byte < 10 ms ({LABELS[server]})", n,
                            "—" if again is None else f"{again:.1f} ms", again is not None and again < 10))
        rl = med(big, server, "reload: changed pool answers, s")
        out.append((f"reload of {big} pools, one changed, < 0.5 s ({LABELS[server]})", big,
                    "—" if rl is None else f"{rl:.3f} s", rl is not None and rl < 0.5))
    return out


def render(records, meta):
    """The density section of docs/benchmarks.md, markers included."""
    ns = sorted({r["tenants"] for r in records})
    servers = [s for s in SERVERS if any(r["server"] == s for r in records)]
    rounds = len({r["round"] for r in records})
    L = [BEGIN_MARKER, "", "## Density: many idle ondemand tenants", "",
         f"Generated by `scripts/bench --density`; rerun it to refresh this section. "
         f"Command: `{meta['command']}`; {meta['started']} to {meta['finished']}; "
         f"{rounds} round(s), servers one at a time, their order rotating each round.", "",
         "Each tenant is its own user with a hello-world app (`bench/apps/hello.wsgi`, "
         "`hello.php`) on its own UNIX socket, ondemand, at most 2 processes of 1 thread, idle "
         f"timeout {IDLE_TIMEOUT} s: one `wsgi-fpm run` config with N pools (and the same with "
         "`preload-fork: true`), one PHP-FPM master with N pools (`pm = ondemand`, "
         "`pm.max_children = 2`). Figures are median (min–max) over every sample of every round: "
         f"{meta['cold_samples']} cold/warm tenants and {meta['reloads']} reloads per round, one "
         "value a round for the rest. PSS from `/proc/PID/smaps_rollup`; idle figures once every "
         f"worker has idled out, CPU over {meta['idle_seconds']} s from the threads' schedstat. A cold "
         "request is the first to a tenant without a process (connect to the first byte of the "
         "response); warm, the next one; woken again, the first request to the same tenant just "
         "after its workers idled out (a preload-fork template, or wsgi-fpm's zygote, may still "
         "run; idle figures wait until they have gone too). Start: from spawn until every socket listens "
         "(`/proc/net/unix`, without connecting, which would wake the pool), then until the "
         "last tenant answers. Reload: from `wsgi-fpm reload` (with one pool's `environment` "
         "changed) or SIGUSR2 to PHP-FPM (one pool's `env[]` changed) until a request to the "
         "changed pool, then one to an unchanged pool, is answered; both pools had no process.", ""]
    L += ["| target | N | figure | met |", "|---|---|---|---|"]
    for target, n, figure, ok in verdicts(records):
        L.append(f"| {target} | {n} | {figure} | {'yes' if ok else '**no**'} |")
    L.append("")
    for n in ns:
        L += [f"### N = {n}", "", "| | " + " | ".join(LABELS[s] for s in servers) + " |",
              "|---" * (len(servers) + 1) + "|"]
        for label, digits, extract in METRICS:
            cells = [med_range(samples(records, n, s, extract), digits) for s in servers]
            if all(c == "—" for c in cells):
                continue
            L.append(f"| {label} | " + " | ".join(cells) + " |")
        L.append("| failures counted | " + " | ".join(failures(records, n, s) for s in servers) + " |")
        busy = [r["idle"]["machine_busy_percent"] for r in records
                if r["tenants"] == n and "machine_busy_percent" in r["idle"]]
        L += ["", f"Machine busy during the idle windows (other work included): {med_range(busy)}%.", ""]
    L.append(END_MARKER)
    return "\n".join(L) + "\n"


def replace_section(text, section):
    """The page with its density section replaced; a page without one gets it
    at the top of the hand-written part (kept by bench/report.py), or at the end."""
    b, e = text.find(BEGIN_MARKER), text.find(END_MARKER)
    if b >= 0 and e > b:
        end = e + len(END_MARKER)
        if text[end:end + 1] == "\n":
            end += 1
        return text[:b] + section + text[end:]
    k = text.find(KEEP_MARKER)
    if k >= 0:
        k = text.find("\n", k) + 1 if text.find("\n", k) >= 0 else len(text)
        return text[:k] + "\n" + section + text[k:]
    return text.rstrip("\n") + "\n\n" + KEEP_MARKER + "\n\n" + section
