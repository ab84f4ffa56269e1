# The smallest WSGI app: 14 bytes of text. Measures the server's own overhead.
def application(environ, start_response):
    body = b"Hello, world!\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
