"""wsgi-fpm configs written from dicts (to_yaml, write_config), and the
configs and pools the stories run: small_config, one_pool (procinfo.wsgi at
/proc, dispatch.wsgi at /), procinfo_pool (procinfo.wsgi at /), all as wfpm-ta."""
import json
import os

from .users import TA


def _yaml_scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(str(value))  # a double-quoted JSON string is a YAML string


def to_yaml(value, indent=0):
    """Block-style YAML for dicts, lists and scalars: enough for a wsgi-fpm config.
    Strings are always quoted, so "0600" stays a string and "%{GROUP}" is no flow map."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {_yaml_scalar(v)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict) and item:
                body = to_yaml(item, indent + 1)
                lines.append(f"{pad}- " + body[len(pad) + 2:])
            else:
                lines.append(f"{pad}- {_yaml_scalar(item)}")
    else:
        lines.append(pad + _yaml_scalar(value))
    return "\n".join(lines)


def write_config(path, config):
    """Writes the YAML atomically (a reload never sees half a file)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("# Written by tests/integration/support/yaml_config.py\n" + to_yaml(config) + "\n")
    os.replace(tmp, path)


def copy_config(config):
    """A deep copy, to change for a reload while the running one stays as it was."""
    return json.loads(json.dumps(config))


def small_config(scratch, pools, log="stderr"):
    """A supervisor's config: runtime-dir SCRATCH/runtime, `pools` as given."""
    return {"runtime-dir": scratch.file("runtime"), "log": log, "pools": pools}


def apps_of(d):
    """tests/apps/procinfo.wsgi at /proc and dispatch.wsgi at /, from directory d."""
    return [{"mount": "/proc", "script": os.path.join(d, "procinfo.wsgi")},
            {"mount": "/", "script": os.path.join(d, "dispatch.wsgi"), "callable": "application"}]


def one_pool(scratch, apps, name, **keys):
    """wfpm-ta's pool of 2 threads on SCRATCH/run/NAME.sock serving apps_of(apps); keys override."""
    pool = {"user": TA, "threads": 2, "listen": os.path.join(scratch.sub("run"), f"{name}.sock"),
            "home": apps, "apps": apps_of(apps)}
    pool.update(keys)
    return pool


def procinfo_pool(scratch, apps, name, **keys):
    """wfpm-ta's pool of 1 thread on SCRATCH/run/NAME.sock serving procinfo.wsgi
    (which answers with the serving pid) at /; keys override."""
    pool = {"user": TA, "threads": 1, "listen": os.path.join(scratch.sub("run"), f"{name}.sock"),
            "home": apps, "apps": [{"mount": "/", "script": os.path.join(apps, "procinfo.wsgi")}]}
    pool.update(keys)
    return pool
