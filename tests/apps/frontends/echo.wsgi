# What the application sees of a request, whatever the frontend: any path
# answers 200 with JSON of the CGI variables that the frontends split or pass
# differently (a missing one is null), the body's length as read from
# wsgi.input to its end, and which interpreter ran it.
#
# `interpreter` is a token made once per Python (sub-)interpreter, kept in
# builtins, which each interpreter has its own of: two apps in one
# application group show the same token, two in different groups different ones.
import builtins
import json
import os
import uuid

KEYS = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "CONTENT_LENGTH",
        "CONTENT_TYPE", "REQUEST_URI", "SERVER_NAME", "SERVER_PORT", "HTTP_HOST",
        "mod_wsgi.process_group", "mod_wsgi.application_group")

if not hasattr(builtins, "_wfpm_interpreter"):
    builtins._wfpm_interpreter = uuid.uuid4().hex


def application(environ, start_response):
    stream = environ["wsgi.input"]
    length = 0
    for _ in range(100000):
        piece = stream.read(65536)
        if not piece:
            break
        length += len(piece)
    out = {k: environ.get(k) for k in KEYS}
    out["body_length"] = length
    out["interpreter"] = builtins._wfpm_interpreter
    out["pid"] = os.getpid()
    # The server's own types, which each interpreter has its own of.
    out["server_types"] = [id(type(stream)), id(type(environ["wsgi.errors"])), id(environ["wsgi.file_wrapper"])]
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
