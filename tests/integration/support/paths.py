"""Where the things under test are. Meson sets the environment; the defaults
suit a manual run from the source tree after `meson setup build && ninja -C build`:

  WSGI_FPM          the wsgi-fpm executable
  WSGI_FPM_WORKER   the worker executable
  WSGI_FPM_SOURCE   the source root (for tests/apps and etc/)
  WSGI_FPM_LOADGEN  the benchmark's load generator
  FCGI_RESPONDER    the scripted FastCGI server of bench/
  WFPM_KEEP=1       keep scratch directories for a post-mortem (see files.py)

Read as `paths.WSGI_FPM` when used, so a test may point it at a wrapper for a
while (test_density starts wsgi-fpm under prlimit that way).
"""
import os

SOURCE = os.environ.get("WSGI_FPM_SOURCE") or os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
WSGI_FPM = os.environ.get("WSGI_FPM") or os.path.join(SOURCE, "build", "src", "wsgi-fpm")
WORKER = os.environ.get("WSGI_FPM_WORKER") or os.path.join(SOURCE, "build", "src", "wsgi-fpm-worker")
LOADGEN = os.environ.get("WSGI_FPM_LOADGEN") or os.path.join(SOURCE, "build", "bench", "wsgi-fpm-loadgen")
FCGI_RESPONDER = os.environ.get("FCGI_RESPONDER") or os.path.join(SOURCE, "build", "bench", "fcgi-responder")
APPS = os.path.join(SOURCE, "tests", "apps")
ETC = os.path.join(SOURCE, "etc")
