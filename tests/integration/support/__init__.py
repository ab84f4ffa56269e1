"""What the integration stories share, one concept a module:

  paths        where wsgi-fpm, its worker, the load generator, tests/apps and etc/ are
  cleanup      every process and scratch directory goes at exit, on a failure or a signal
  waiting      wait_for: every wait bounded in time and in count
  users        the test user, the tenants wfpm-ta and wfpm-tb, their groups
  files        scratch directories and the apps installed into them
  processes    Proc (a child killed with its whole tree), /proc: descendants, ids, titles
  sockets      free ports, and waiting for something to listen
  yaml_config  a wsgi-fpm config written from a dict; the pools the stories run
  supervisor   `wsgi-fpm run` (Supervisor), `wsgi-fpm serve` (Serve), other subcommands
  clients      HTTP, FastCGI and `wsgi-fpm request` clients
  load         requests on threads: in flight, at once, or in loops while a test acts
  frontends    a throw-away nginx, Apache or lighttpd in front of a pool
  runner       Runner and Group: `ok NAME` / `FAIL NAME: reason`, `P passed, F failed`

Stdlib only, run as root by the Python the build embeds. Importing any of them
installs the clean-up (atexit, SIGTERM, SIGINT).
"""
from . import cleanup  # the clean-up is installed on import

__all__ = ["cleanup"]
