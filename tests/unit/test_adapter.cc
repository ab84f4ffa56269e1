// One request through python::Application against a recording RequestIo:
// what goes on the wire for each thing an application may do.
#include <doctest/doctest.h>

#include <fstream>

#include "python/application.h"
#include "python_fixture.h"

using namespace wsgi_fpm;
using test_support::FakeIo;
using test_support::python_main_state;
using test_support::write_script;

namespace {

// Runs `source`'s application once for a GET (or a POST with `body`).
FakeIo run_app(const std::string& source, const std::string& body = {},
               const std::string& uri = "/", bool frontend_gone = false) {
  python::ApplicationConfig config;
  config.script = write_script(source);
  config.environ.process_group = "unit";
  FakeIo io;
  io.request.add("REQUEST_METHOD", body.empty() ? "GET" : "POST");
  io.request.add("REQUEST_URI", uri);
  io.request.add("SERVER_NAME", "localhost");
  io.request.add("SERVER_PORT", "80");
  io.request.add("CONTENT_LENGTH", body.empty() ? "" : std::to_string(body.size()));
  io.body = body;
  io.max_read = 1000;  // short reads, as a real socket gives
  io.fail_writes = frontend_gone;
  {
    python::GilHold gil(python_main_state());
    python::Application app(config);  // holds Python references: GIL held for its life
    REQUIRE(app.ensure_loaded());
    protocol::PathSplit split;
    split.path_info = uri;
    app.handle(io, split, "GET " + uri);
    CHECK_FALSE(PyErr_Occurred());
  }
  std::remove(config.script.c_str());
  return io;
}

}  // namespace

TEST_CASE("a list response goes out in one write: head, body and the end together") {
  auto io = run_app(R"(
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'Hello, ', b'world!\n']
)");
  CHECK(io.status_line() == "Status: 200 OK");
  CHECK(io.response_body() == "Hello, world!\n");
  CHECK(io.write_sizes.size() == 1);
  CHECK(io.ended);
}

TEST_CASE("a generator's chunks are each sent as produced, and close() runs before the end") {
  auto io = run_app(R"(
import os
class Body:
    def __init__(self): self.closed = False
    def __iter__(self):
        for i in range(3): yield b'%d;' % i
    def close(self):
        open('/tmp/wsgi-fpm-unit-closed', 'w').write('yes')
def application(environ, start_response):
    start_response('200 OK', [])
    return Body()
)");
  CHECK(io.response_body() == "0;1;2;");
  CHECK(io.write_sizes.size() == 4);  // three chunks, then the end
  std::ifstream marker("/tmp/wsgi-fpm-unit-closed");
  CHECK(marker.good());
  std::remove("/tmp/wsgi-fpm-unit-closed");
}

TEST_CASE("a header value with CR/LF gives 500 and nothing of the bad header") {
  auto io = run_app(R"(
def application(environ, start_response):
    start_response('200 OK', [('X-Bad', 'a\r\nInjected: yes')])
    return [b'never sent']
)");
  CHECK(io.status_line() == "Status: 500 Internal Server Error");
  CHECK(io.written.find("Injected") == std::string::npos);
}

TEST_CASE("an exception before any output gives 500; the body is never the app's") {
  auto io = run_app(R"(
def application(environ, start_response):
    raise RuntimeError('boom')
)");
  CHECK(io.status_line() == "Status: 500 Internal Server Error");
  CHECK_FALSE(io.aborted);
}

TEST_CASE("an exception after the head was sent breaks the connection instead of ending cleanly") {
  auto io = run_app(R"(
def application(environ, start_response):
    start_response('200 OK', [])
    yield b'partial'
    raise RuntimeError('boom in the middle')
)");
  CHECK(io.status_line() == "Status: 200 OK");
  CHECK(io.aborted);
  CHECK_FALSE(io.ended);
}

TEST_CASE("exc_info replaces the response while nothing was sent") {
  auto io = run_app(R"(
import sys
def application(environ, start_response):
    start_response('200 OK', [('X-First', '1')])
    try:
        raise ValueError('x')
    except ValueError:
        start_response('503 Service Unavailable', [('X-Second', '2')], sys.exc_info())
    return [b'sorry']
)");
  CHECK(io.status_line() == "Status: 503 Service Unavailable");
  CHECK(io.written.find("X-First") == std::string::npos);
  CHECK(io.written.find("X-Second: 2") != std::string::npos);
}

TEST_CASE("exc_info after the head was sent re-raises the application's exception") {
  auto io = run_app(R"(
import sys
def application(environ, start_response):
    write = start_response('200 OK', [])
    write(b'already out')
    try:
        raise KeyError('late')
    except KeyError:
        try:
            start_response('500 Oops', [], sys.exc_info())
        except KeyError:
            return [b' and the KeyError came back']
    return [b' but it did not']
)");
  CHECK(io.response_body() == "already out and the KeyError came back");
}

TEST_CASE("calling start_response twice without exc_info is an error") {
  auto io = run_app(R"(
def application(environ, start_response):
    start_response('200 OK', [])
    start_response('200 OK', [])
    return [b'x']
)");
  CHECK(io.status_line() == "Status: 500 Internal Server Error");
}

TEST_CASE("bytes beyond Content-Length are not sent") {
  auto io = run_app(R"(
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '5')])
    return [b'12345', b'6789']
)");
  CHECK(io.response_body() == "12345");
  CHECK(io.ended);
}

TEST_CASE("a body shorter than its Content-Length breaks the connection") {
  auto io = run_app(R"(
def application(environ, start_response):
    start_response('200 OK', [('Content-Length', '50')])
    return [b'short']
)");
  CHECK(io.aborted);
}

TEST_CASE("wsgi.input: read(n) fills n bytes across short reads; readline and iteration split lines") {
  auto io = run_app(R"(
def application(environ, start_response):
    inp = environ['wsgi.input']
    first = inp.read(1500)
    line = inp.readline()
    rest = list(inp)
    out = b'%d|%s|%d|%d' % (len(first), line, len(rest), sum(map(len, rest)))
    start_response('200 OK', [])
    return [out]
)", std::string(1500, 'a') + "line one\nline two\nline three\n" + std::string(3000, 'z'));
  CHECK(io.response_body() == "1500|line one\n|3|3020");
}

TEST_CASE("wsgi.input: read() with no size returns the whole body, then EOF") {
  std::string body(200000, 'x');
  auto io = run_app(R"(
import hashlib
def application(environ, start_response):
    inp = environ['wsgi.input']
    data = inp.read()
    again = inp.read(10)
    start_response('200 OK', [])
    return [b'%d %d' % (len(data), len(again))]
)", body);
  CHECK(io.response_body() == "200000 0");
}

TEST_CASE("write() sends immediately, before the returned iterable") {
  auto io = run_app(R"(
def application(environ, start_response):
    write = start_response('200 OK', [])
    write(b'first ')
    return [b'second']
)");
  CHECK(io.response_body() == "first second");
  CHECK(io.write_sizes.size() == 2);
}

TEST_CASE("wsgi.file_wrapper iterates the file in blocks and closes it") {
  auto io = run_app(R"(
import io
class F(io.BytesIO):
    def close(self):
        open('/tmp/wsgi-fpm-unit-fw', 'w').write('closed')
        super().close()
def application(environ, start_response):
    start_response('200 OK', [])
    return environ['wsgi.file_wrapper'](F(b'0123456789'), 4)
)");
  CHECK(io.response_body() == "0123456789");
  CHECK(io.write_sizes.size() == 4);  // 4 + 4 + 2, then the end
  std::ifstream marker("/tmp/wsgi-fpm-unit-fw");
  CHECK(marker.good());
  std::remove("/tmp/wsgi-fpm-unit-fw");
}

TEST_CASE("a str in the response instead of bytes gives 500") {
  auto io = run_app(R"(
def application(environ, start_response):
    start_response('200 OK', [])
    return ['text, not bytes']
)");
  CHECK(io.status_line() == "Status: 500 Internal Server Error");
}

TEST_CASE("an app wrapped in wsgiref.validate passes") {
  auto io = run_app(R"(
from wsgiref.validate import validator
def app(environ, start_response):
    body = environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'got ' + body]
application = validator(app)
)", "payload");
  CHECK(io.status_line() == "Status: 200 OK");
  CHECK(io.response_body() == "got payload");
}

TEST_CASE("a script that fails to load reports it, and loads once it is fixed") {
  python::ApplicationConfig config;
  config.script = write_script("raise ImportError('broken on purpose')\n");
  python::GilHold gil(python_main_state());
  python::Application app(config);
  CHECK_FALSE(app.ensure_loaded());
  CHECK_FALSE(PyErr_Occurred());
  std::ofstream(config.script) << "def application(e, s):\n    s('200 OK', [])\n    return [b'fixed']\n";
  CHECK(app.ensure_loaded());
  std::remove(config.script.c_str());
}

TEST_CASE("a frontend gone mid-response leaves no exception for the thread's next request") {
  const char* list_app = R"(
def application(environ, start_response):
    start_response('200 OK', [])
    return [b'nobody will read this']
)";
  const char* generator_app = R"(
def application(environ, start_response):
    start_response('200 OK', [])
    yield b'first'
    yield b'second'
)";
  const char* write_app = R"(
def application(environ, start_response):
    write = start_response('200 OK', [])
    write(b'lost')
    return [b'too']
)";
  for (const char* app : {list_app, generator_app, write_app}) {
    auto io = run_app(app, {}, "/", true);  // run_app checks PyErr_Occurred() is false
    CHECK(io.written.empty());
  }
  // And the thread's next request is served normally.
  auto io = run_app(list_app);
  CHECK(io.status_line() == "Status: 200 OK");
}
