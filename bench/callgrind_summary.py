"""Instructions per request from two callgrind runs of a server process.

    callgrind_summary.py PREFIX REQUESTS

PREFIX.base.PID is the profile of a process that served only the readiness
probe, PREFIX.load.PID of one that served REQUESTS more. Prints one JSON
object: the Ir per request, and where it goes, by function and by library,
each as (load - base) / REQUESTS.
"""

import collections
import glob
import json
import os
import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)\s*$")
OBJECT = re.compile(r"^(.*?) \[(/[^\]]*)\]$")


def total_ir(path):
    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    return 0


def self_cost(path):
    """Exclusive Ir per function, summed over the source files callgrind_annotate
    splits it into (inlined headers); the object file comes from whichever of
    its lines names one."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True, check=True).stdout
    costs = {}
    started = False
    objects = OBJECTS
    for line in out.splitlines():
        if "file:function" in line:
            started = True
            continue
        if not started or line.startswith("---"):
            continue
        if not line.strip():
            if costs:
                break
            continue
        m = LINE.match(line)
        if not m:
            continue
        ir, rest = int(m.group(1).replace(",", "")), m.group(2)
        obj = OBJECT.match(rest)
        name = obj.group(1) if obj else rest
        name = name.split(":", 1)[1] if ":" in name and not name.startswith(":") else name
        costs[name] = costs.get(name, 0) + ir
        if obj:
            objects[name] = os.path.basename(obj.group(2))
    return costs


OBJECTS = {}  # function -> library, filled by self_cost


def short(name):
    """Drops parameter lists and template arguments: enough to recognize a function."""
    out, depth_paren, depth_angle = [], 0, 0
    for ch in name:
        if ch == "(":
            depth_paren += 1
            if depth_paren == 1:
                out.append("()")
            continue
        if ch == ")":
            depth_paren -= 1
            continue
        if depth_paren:
            continue
        if ch == "<":
            depth_angle += 1
            if depth_angle == 1:
                out.append("<…>")
            continue
        if ch == ">" and depth_angle:
            depth_angle -= 1
            continue
        if not depth_angle:
            out.append(ch)
    return re.sub(r"'\d+$", "", "".join(out))  # callgrind's recursion-depth suffix


def run_files(prefix, run):
    files = sorted(glob.glob("%s.%s.*" % (prefix, run)))
    if not files:
        raise SystemExit("no %s.%s.*" % (prefix, run))
    return files


def merged(files, fn):
    total = collections.Counter()
    for f in files:
        total.update(fn(f))
    return total


def library(name):
    return OBJECTS.get(name, "?")


def main():
    prefix, requests = sys.argv[1], int(sys.argv[2])
    base_files, load_files = run_files(prefix, "base"), run_files(prefix, "load")
    base = sum(total_ir(f) for f in base_files)
    load = sum(total_ir(f) for f in load_files)
    base_fn = merged(base_files, self_cost)
    load_fn = merged(load_files, self_cost)
    per_fn = {k: (load_fn.get(k, 0) - base_fn.get(k, 0)) / requests for k in set(base_fn) | set(load_fn)}
    by_lib = collections.Counter()
    for k, v in per_fn.items():
        by_lib[library(k)] += v
    top = sorted(per_fn.items(), key=lambda kv: -kv[1])[:25]
    json.dump({
        "requests": requests,
        "ir_base": base,
        "ir_load": load,
        "ir_per_request": (load - base) / requests,
        "top_functions": [{"function": short(k), "library": library(k), "ir": round(v)} for k, v in top],
        "by_library": [{"library": k, "ir": round(v)} for k, v in by_lib.most_common(12) if v > 0],
    }, sys.stdout)
    print()


if __name__ == "__main__":
    main()
