# An app that imports an extension module CPython will not load into an
# isolated sub-interpreter (readline: single-phase init), for own-gil's
# error at start in tests/integration/test_own_gil.py. In the main
# interpreter, or a group sharing its GIL, it serves.
import readline  # noqa: F401


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"readline imported\n"]
