# Dies of SIGSEGV while it is imported, as a C extension module that cannot
# live in an isolated interpreter may (numpy aborts in free() on Debian 13),
# for own-gil's crash report in tests/integration/test_own_gil.py.
import ctypes

ctypes.string_at(0)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"never\n"]
