#!/usr/bin/env python3
"""Writes the seed corpora in corpus/<target>/: small, valid inputs that start
each fuzz target deep inside its protocol. Built from the specs by hand, not
by the code under test. Run again after changing it; commit the files."""
import os
import struct

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT, STDERR, DATA, GET_VALUES = range(1, 10)


def record(rtype, rid, content=b"", padding=None):
    if padding is None:
        padding = -len(content) % 8
    return struct.pack(">BBHHBx", 1, rtype, rid, len(content), padding) + content + b"\0" * padding


def length(n):
    return bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)


def pairs(items):
    return b"".join(length(len(k)) + length(len(v)) + k + v for k, v in items)


def begin(rid, role=1, keep=False):
    return record(BEGIN, rid, struct.pack(">HB5x", role, 1 if keep else 0))


def request(rid, items, body=b"", keep=False):
    out = begin(rid, keep=keep)
    if items:
        out += record(PARAMS, rid, pairs(items))
    out += record(PARAMS, rid)
    if body:
        out += record(STDIN, rid, body)
    return out + record(STDIN, rid)


GET = [(b"REQUEST_METHOD", b"GET"), (b"REQUEST_URI", b"/app/x?y=1"), (b"CONTENT_LENGTH", b""),
       (b"HTTP_HOST", b"example.org")]
POST = [(b"REQUEST_METHOD", b"POST"), (b"REQUEST_URI", b"/app/form"), (b"CONTENT_LENGTH", b"7")]


def end_request(rid, app_status=0, status=0):
    return record(END, rid, struct.pack(">IB3x", app_status, status))


def scgi(items, body=b""):
    head = b"".join(k + b"\0" + v + b"\0" for k, v in items)
    return str(len(head)).encode() + b":" + head + b"," + body


CORPORA = {
    "fuzz_fastcgi_server": {
        "get": request(1, GET),
        "post": request(1, POST, b"a=1&b=2"),
        "keepalive_two": request(1, GET, keep=True) + request(2, POST, b"a=1&b=2", keep=True),
        "get_values": record(GET_VALUES, 0, pairs([(b"FCGI_MPXS_CONNS", b""), (b"FCGI_MAX_REQS", b"")]))
        + request(1, GET),
        "multiplexed": begin(1) + begin(2) + record(PARAMS, 1, pairs(GET)) + record(PARAMS, 2)
        + record(PARAMS, 1) + record(STDIN, 1),
        "abort": begin(3) + record(PARAMS, 3, pairs(GET)) + record(ABORT, 3) + request(4, GET),
        "long_param": request(1, [(b"HTTP_COOKIE", b"c" * 300), (b"N" * 130, b"v")]),
        "authorizer": begin(1, role=2) + record(PARAMS, 1) + request(2, GET),
        "unknown_management": record(42, 0, b"x") + request(1, GET),
    },
    "fuzz_fastcgi_client": {
        "response": record(STDOUT, 1, b"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello")
        + record(STDERR, 1, b"warning") + record(STDOUT, 1) + end_request(1),
        "padded": record(STDOUT, 1, b"Status: 404 Not Found\r\n\r\n", padding=255)
        + record(STDOUT, 1, b"gone", padding=0) + end_request(1, 3),
        "overloaded": end_request(1, 0, 2),
        "then_next": record(STDOUT, 1, b"a") + end_request(1) + record(STDOUT, 2, b"b"),
    },
    "fuzz_scgi_head": {
        "spec_example": scgi([(b"CONTENT_LENGTH", b"27"), (b"SCGI", b"1"), (b"REQUEST_METHOD", b"POST"),
                              (b"REQUEST_URI", b"/deepthought")], b"What is the answer to life?"),
        "get": scgi([(b"CONTENT_LENGTH", b"0"), (b"SCGI", b"1"), (b"REQUEST_URI", b"/app/x?y=1"),
                     (b"HTTP_HOST", b"example.org"), (b"QUERY_STRING", b"y=1")]),
        "empty_value": scgi([(b"CONTENT_LENGTH", b""), (b"HTTP_X", b"")]),
    },
    "fuzz_request_path": {
        "plain": b"/app/x%20y?q=1",
        "mount": b"/app\n/app/./a/../b%2Fc",
        "dots": b"/a/b/c/./../../g",
        "encoded_dots": b"/static/%2e%2e/%2E%2E/etc/passwd",
        "utf8": b"/caf%C3%A9/men\xc3\xbc/",
        "slashes": b"/\n//a//b/",
    },
}

for target, files in CORPORA.items():
    os.makedirs(os.path.join(HERE, target), exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(HERE, target, name), "wb") as f:
            f.write(data)
