"""Requests that run or wait too long (SPEC §5): request-timeout writes the
stuck thread's Python stack with the request's URL to the log, then either
raises RequestTimeout in that thread alone (interrupt-timeout: the request gets
504, the process lives on) or replaces the process; queue-timeout answers 504
without running the app when X-Request-Start says the request waited too long.
"""
import sys

sys.dont_write_bytecode = True

import os  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

from support.clients import cli_request  # noqa: E402
from support.files import Scratch  # noqa: E402
from support.paths import SOURCE  # noqa: E402
from support.runner import Runner  # noqa: E402
from support.supervisor import Serve, wsgi_fpm  # noqa: E402
from support.users import TEST_USER, chown_tree  # noqa: E402
from support.waiting import wait_for  # noqa: E402


def stuck_pool(on_close, extra):
    scratch = Scratch(prefix="wfpm-timeouts-")
    apps = scratch.sub("apps")
    shutil.copy(os.path.join(SOURCE, "tests", "apps", "stuck.wsgi"), apps)
    chown_tree(apps, TEST_USER)
    serve = Serve(scratch, os.path.join(apps, "stuck.wsgi"), name="stuck",
                  args=["--threads", "2", "--request-timeout", "1", *extra])
    on_close(serve.kill)
    return serve


def interrupt_gives_504_and_the_process_lives(on_close):
    serve = stuck_pool(on_close, ["--interrupt-timeout", "5"])
    before = wait_for(lambda: serve.workers(), 15, what="a worker")
    started = time.monotonic()
    status, _, _ = cli_request(f"unix:{serve.socket_path}", "/stuck", "--timeout", "30")
    took = time.monotonic() - started
    if status != 504:
        raise AssertionError(f"stuck request got {status}, expected 504")
    # 1 s x (1 + ln 2 threads) = 1.7 s, checked about once a second.
    if not 1.5 <= took <= 6:
        raise AssertionError(f"504 came after {took:.1f} s, expected about 1.7 s")
    serve.wait_stderr("past request-timeout")
    serve.wait_stderr('in spin')  # the stuck thread's Python stack, by function
    serve.wait_stderr("GET /stuck")
    status, _, body = cli_request(f"unix:{serve.socket_path}", "/")
    if status != 200 or serve.workers() != before:
        raise AssertionError(f"after the interrupt: status {status}, workers {before} -> {serve.workers()}")


def without_interrupt_the_process_is_replaced(on_close):
    serve = stuck_pool(on_close, ["--shutdown-timeout", "2"])
    before = wait_for(lambda: serve.workers(), 15, what="a worker")
    r = wsgi_fpm("request", f"unix:{serve.socket_path}", "/stuck", "--timeout", "30", timeout=40)
    if r.returncode == 0:
        raise AssertionError("a stuck request completed?")
    serve.wait_stderr("replacing this process: request-timeout")
    after = wait_for(lambda: serve.workers() and serve.workers() != before and serve.workers(), 15,
                     what="a replacement worker")
    status, _, _ = cli_request(f"unix:{serve.socket_path}", "/")
    if status != 200:
        raise AssertionError(f"the replacement ({after}) answered {status}")


def queue_timeout_gives_504_unrun(on_close):
    serve = stuck_pool(on_close, ["--queue-timeout", "2"])
    old = int((time.time() - 10) * 1e6)
    status, _, _ = cli_request(f"unix:{serve.socket_path}", "/", "--header", f"X-Request-Start: t={old}")
    if status != 504:
        raise AssertionError(f"a request queued 10 s got {status}, expected 504")
    fresh = int(time.time() * 1e6)
    status, _, _ = cli_request(f"unix:{serve.socket_path}", "/", "--header", f"X-Request-Start: t={fresh}")
    if status != 200:
        raise AssertionError(f"a fresh request got {status}")
    # nginx's $msec form: seconds with a fraction.
    status, _, _ = cli_request(f"unix:{serve.socket_path}", "/", "--header", f"X-Request-Start: t={time.time() - 10:.3f}")
    if status != 504:
        raise AssertionError(f"seconds.millis form: got {status}, expected 504")


def main():
    runner = Runner(budget=240)
    closers = []
    on_close = closers.append
    for name, fn in [("timeouts/interrupt_gives_504_and_the_process_lives", interrupt_gives_504_and_the_process_lives),
                     ("timeouts/without_interrupt_the_process_is_replaced", without_interrupt_the_process_is_replaced),
                     ("timeouts/queue_timeout_gives_504_unrun", queue_timeout_gives_504_unrun)]:
        def run(fn=fn):
            try:
                fn(on_close)
            finally:
                while closers:
                    closers.pop()()
        runner.add(name, run)
    runner.main()


if __name__ == "__main__":
    main()
