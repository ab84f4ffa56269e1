# A CPU-bound request in pure Python (about 10 ms on this machine): it never
# lets go of the GIL except when the interpreter hands it over, so two of
# them in one process run at once only with a GIL each (own-gil).
def spin(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def application(environ, start_response):
    body = b"%d\n" % spin(200000)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
