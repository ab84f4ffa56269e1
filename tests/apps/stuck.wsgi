# A request that never finishes by itself (/stuck), for request-timeout, and
# one that does (/).
import time


def spin():
    while True:
        time.sleep(0.05)


def application(environ, start_response):
    if environ["PATH_INFO"] == "/stuck":
        spin()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"fine\n"]
