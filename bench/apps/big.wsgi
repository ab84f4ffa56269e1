# A 64 KiB response: measures how the server moves a body larger than one
# FastCGI record (65535 bytes) and than typical socket buffers.
BODY = b"x" * 65536


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(BODY)))])
    return [BODY]
