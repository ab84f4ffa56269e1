# Sleeps 10 ms, as an app waiting on a database would: measures how well the
# server keeps many requests in flight on its threads.
import time


def application(environ, start_response):
    time.sleep(0.010)
    body = b"Hello, world!\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
