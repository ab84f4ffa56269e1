// The environ a request produces, checked against PEP 3333 and what each
// frontend sends (shared/FRONTENDS.md).
#include <doctest/doctest.h>

#include "protocol/request_path.h"
#include "python/environ.h"
#include "python/types.h"
#include "python_fixture.h"

using namespace wsgi_fpm;
using test_support::python_main_state;

namespace {

std::string str_item(PyObject* env, const char* key) {
  PyObject* v = PyDict_GetItemString(env, key);
  if (!v) return "<absent>";
  if (!PyUnicode_Check(v)) return "<not str>";
  PyObject* b = PyUnicode_AsLatin1String(v);
  std::string out(PyBytes_AS_STRING(b), static_cast<size_t>(PyBytes_GET_SIZE(b)));
  Py_DECREF(b);
  return out;
}

python::PyRef environ_for(const protocol::Params& params, const std::string& mount,
                          python::EnvironDefaults defaults = {}) {
  defaults.process_group = defaults.process_group.empty() ? "tenant-a" : defaults.process_group;
  auto tmpl = python::make_environ_template(defaults);
  auto uri = std::string(params.get_or("REQUEST_URI", "/"));
  auto split = protocol::split_at_mount(protocol::decoded_path(uri), mount);
  REQUIRE(split);
  auto q = uri.find('?');
  split->query_string = q == std::string::npos ? "" : uri.substr(q + 1);
  python::PyRef input = python::PyRef::borrow(Py_None);
  python::PyRef errors = python::PyRef::borrow(Py_None);
  return python::build_environ(tmpl.get(), params, *split, input.get(), errors.get());
}

protocol::Params nginx_request() {
  protocol::Params p;
  p.add("QUERY_STRING", "q=1");
  p.add("REQUEST_METHOD", "GET");
  p.add("CONTENT_TYPE", "");
  p.add("CONTENT_LENGTH", "");
  p.add("SCRIPT_NAME", "/app/x y");  // nginx puts the whole decoded path here
  p.add("REQUEST_URI", "/app/x%20y?q=1");
  p.add("SERVER_PROTOCOL", "HTTP/1.1");
  p.add("SERVER_NAME", "example.com");
  p.add("SERVER_PORT", "80");
  p.add("HTTP_HOST", "example.com");
  p.add("HTTP_CONTENT_LENGTH", "0");
  p.add("HTTP_CONTENT_TYPE", "text/plain");
  return p;
}

}  // namespace

TEST_CASE("an app mounted at /app gets SCRIPT_NAME=/app and the rest in PATH_INFO behind nginx") {
  python::GilHold gil(python_main_state());
  auto env = environ_for(nginx_request(), "/app");
  REQUIRE(env);
  CHECK(str_item(env.get(), "SCRIPT_NAME") == "/app");
  CHECK(str_item(env.get(), "PATH_INFO") == "/x y");
  CHECK(str_item(env.get(), "QUERY_STRING") == "q=1");
  CHECK(str_item(env.get(), "REQUEST_METHOD") == "GET");
}

TEST_CASE("PEP 3333 forbids HTTP_CONTENT_LENGTH and HTTP_CONTENT_TYPE; they are dropped") {
  python::GilHold gil(python_main_state());
  auto env = environ_for(nginx_request(), "/");
  CHECK(str_item(env.get(), "HTTP_CONTENT_LENGTH") == "<absent>");
  CHECK(str_item(env.get(), "HTTP_CONTENT_TYPE") == "<absent>");
  CHECK(str_item(env.get(), "HTTP_HOST") == "example.com");
}

TEST_CASE("the wsgi.* keys follow mod_wsgi's rules for threads and processes") {
  python::GilHold gil(python_main_state());
  python::EnvironDefaults single;
  single.multithread = false;
  single.multiprocess = false;
  auto env = environ_for(nginx_request(), "/", single);
  CHECK(PyDict_GetItemString(env.get(), "wsgi.multithread") == Py_False);
  CHECK(PyDict_GetItemString(env.get(), "wsgi.multiprocess") == Py_False);
  CHECK(PyDict_GetItemString(env.get(), "wsgi.run_once") == Py_False);

  python::EnvironDefaults many;
  many.multithread = true;
  many.multiprocess = true;
  env = environ_for(nginx_request(), "/", many);
  CHECK(PyDict_GetItemString(env.get(), "wsgi.multithread") == Py_True);
  CHECK(PyDict_GetItemString(env.get(), "wsgi.multiprocess") == Py_True);
  PyObject* version = PyDict_GetItemString(env.get(), "wsgi.version");
  REQUIRE(version);
  CHECK(PyTuple_Check(version));
  CHECK(str_item(env.get(), "wsgi.url_scheme") == "http");
}

TEST_CASE("mod_wsgi's keys name the process group and application group") {
  python::GilHold gil(python_main_state());
  python::EnvironDefaults d;
  d.process_group = "tenant-b";
  d.application_group = "example.com|/app";
  auto env = environ_for(nginx_request(), "/app", d);
  CHECK(str_item(env.get(), "mod_wsgi.process_group") == "tenant-b");
  CHECK(str_item(env.get(), "mod_wsgi.application_group") == "example.com|/app");
}

TEST_CASE("HTTPS=on makes wsgi.url_scheme https") {
  python::GilHold gil(python_main_state());
  auto p = nginx_request();
  p.add("HTTPS", "on");
  auto env = environ_for(p, "/");
  CHECK(str_item(env.get(), "wsgi.url_scheme") == "https");
}

TEST_CASE("non-ASCII path bytes arrive as latin-1 characters, as PEP 3333 requires") {
  python::GilHold gil(python_main_state());
  protocol::Params p;
  p.add("REQUEST_METHOD", "GET");
  p.add("REQUEST_URI", "/caf%C3%A9");
  auto env = environ_for(p, "/");
  CHECK(str_item(env.get(), "PATH_INFO") == "/caf\xc3\xa9");
  // A bare client sent no SERVER_NAME: the environ still has what PEP 3333 requires.
  CHECK(str_item(env.get(), "SERVER_NAME") == "localhost");
  CHECK(str_item(env.get(), "SERVER_PORT") == "80");
  CHECK(str_item(env.get(), "QUERY_STRING") == "");
}

TEST_CASE("an encoded slash is decoded into PATH_INFO like any other byte") {
  python::GilHold gil(python_main_state());
  protocol::Params p;
  p.add("REQUEST_URI", "/app/a%2Fb");
  auto env = environ_for(p, "/app");
  CHECK(str_item(env.get(), "SCRIPT_NAME") == "/app");
  CHECK(str_item(env.get(), "PATH_INFO") == "/a/b");
}

// One application's environs, request after request, as
// Application::handle builds them: one template, one cache. The path is /x
// under an app at /; with no QUERY_STRING parameter the query is "from=uri".
struct Environs {
  python::PyRef tmpl = python::make_environ_template({.process_group = "tenant-a"});
  python::EnvironCache cache;
  python::PyRef build(const protocol::Params& params, bool cached = true) {
    auto split = protocol::split_at_mount("/x", "/");
    REQUIRE(split);
    split->query_string = "from=uri";
    python::PyRef none = python::PyRef::borrow(Py_None);
    return python::build_environ(tmpl.get(), params, *split, none.get(), none.get(), cached ? &cache : nullptr);
  }
};

TEST_CASE("the cache shares names and recurring short values between requests, and nothing else changes") {
  python::GilHold gil(python_main_state());
  Environs environs;
  auto first = environs.build(nginx_request());
  auto second = environs.build(nginx_request());
  auto uncached = environs.build(nginx_request(), false);
  REQUIRE(first);
  REQUIRE(second);
  // The same environ but for the time the request started.
  PyDict_DelItemString(first.get(), "mod_wsgi.request_start");
  PyDict_DelItemString(uncached.get(), "mod_wsgi.request_start");
  CHECK(PyObject_RichCompareBool(first.get(), uncached.get(), Py_EQ) == 1);
  // The same bytes at the same place: the same object.
  CHECK(PyDict_GetItemString(first.get(), "SERVER_NAME") == PyDict_GetItemString(second.get(), "SERVER_NAME"));
  // Other bytes there: their own str.
  auto other = nginx_request();
  other.set("SERVER_NAME", "example.org");
  auto third = environs.build(other);
  CHECK(str_item(third.get(), "SERVER_NAME") == "example.org");
  CHECK(str_item(second.get(), "SERVER_NAME") == "example.com");
  // Non-ASCII latin-1 bytes compare as they are.
  other.set("SERVER_NAME", "caf\xe9");
  auto fourth = environs.build(other);
  auto fifth = environs.build(other);
  CHECK(str_item(fifth.get(), "SERVER_NAME") == "caf\xe9");
  CHECK(PyDict_GetItemString(fourth.get(), "SERVER_NAME") == PyDict_GetItemString(fifth.get(), "SERVER_NAME"));
}

TEST_CASE("an environ copied from the last one of the same shape is still this request's own") {
  python::GilHold gil(python_main_state());
  Environs environs;
  auto with = [](std::string method, std::string length, std::string https) {
    protocol::Params p;
    p.add("REQUEST_METHOD", method);
    p.add("CONTENT_LENGTH", length);
    p.add("HTTPS", https);
    p.add("SERVER_NAME", "example.com");
    return p;
  };
  auto post = environs.build(with("POST", "5", "on"));
  // The app changes its environ; the next request does not see it.
  PyDict_SetItemString(post.get(), "leaked", Py_None);
  PyDict_DelItemString(post.get(), "SERVER_NAME");
  auto get = environs.build(with("GET", "", "off"));
  auto fresh = environs.build(with("GET", "", "off"), false);
  PyDict_DelItemString(get.get(), "mod_wsgi.request_start");
  PyDict_DelItemString(fresh.get(), "mod_wsgi.request_start");
  CHECK(PyObject_RichCompareBool(get.get(), fresh.get(), Py_EQ) == 1);
  CHECK(str_item(get.get(), "CONTENT_LENGTH") == "<absent>");
  CHECK(str_item(get.get(), "wsgi.url_scheme") == "http");
  CHECK(str_item(get.get(), "QUERY_STRING") == "from=uri");
  CHECK(str_item(get.get(), "SERVER_PORT") == "80");  // the default, as without the copy
  CHECK(str_item(get.get(), "leaked") == "<absent>");
  auto post_again = environs.build(with("POST", "7", "on"));
  CHECK(str_item(post_again.get(), "CONTENT_LENGTH") == "7");
  CHECK(str_item(post_again.get(), "wsgi.url_scheme") == "https");
  CHECK(str_item(post_again.get(), "SERVER_NAME") == "example.com");
}

TEST_CASE("a parameter given twice: the last value wins, with or without the last environ's shape") {
  python::GilHold gil(python_main_state());
  Environs environs;
  auto build = [&](std::string first, std::string second) {
    protocol::Params p;
    p.add("HTTP_COOKIE", first);
    p.add("SERVER_NAME", "example.com");
    p.add("HTTP_COOKIE", second);
    return environs.build(p);
  };
  CHECK(str_item(build("a=1", "b=2").get(), "HTTP_COOKIE") == "b=2");
  CHECK(str_item(build("c=3", "b=2").get(), "HTTP_COOKIE") == "b=2");
  CHECK(str_item(build("a=1", "d=4").get(), "HTTP_COOKIE") == "d=4");
  CHECK(str_item(build("d=4", "a=1").get(), "HTTP_COOKIE") == "a=1");
}
