# The smallest WSGI application: what `wsgi-fpm serve` runs in the README.
#
#   wsgi-fpm serve hello.wsgi --listen unix:/run/wsgi-fpm/hello.sock
#   wsgi-fpm request unix:/run/wsgi-fpm/hello.sock /


def application(environ, start_response):
    body = b"Hello from wsgi-fpm!\n"
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
