// The worker's command line: what the supervisor writes, the worker reads
// back unchanged.
#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "worker/options.h"

using wsgi_fpm::worker::AppOptions;
using wsgi_fpm::worker::parse_worker_options;
using wsgi_fpm::worker::worker_arguments;
using wsgi_fpm::worker::WorkerOptions;

namespace {

bool read_back(const WorkerOptions& written, WorkerOptions& read, std::string& error) {
  std::vector<std::string> args = worker_arguments(written);
  args.insert(args.begin(), "wsgi-fpm-worker");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parse_worker_options(static_cast<int>(argv.size()), argv.data(), read, error);
}

}  // namespace

TEST_CASE("a pool's settings survive the trip through the worker's command line") {
  WorkerOptions o;
  o.pool = "tenant-a";
  o.threads = 7;
  o.uid = 1001;
  o.gid = 1002;
  o.groups = {1002, 33, 4000};
  o.umask = 0027;
  o.switch_interval = 0.0025;
  o.request_read_timeout = 3;
  o.maximum_connections = 77;
  o.python_path = {"/srv/a/lib", "/srv/a/vendor"};
  o.allowed_clients = {"127.0.0.1/32", "::1/128"};
  AppOptions app;
  app.mount = "/app";
  app.script = "/srv/a/site.wsgi";
  app.application_group = "%{GLOBAL}";
  AppOptions isolated;
  isolated.mount = "/api";
  isolated.script = "/srv/a/api.wsgi";
  isolated.application_group = "api";
  isolated.own_gil = true;
  o.apps = {app, isolated};

  WorkerOptions r;
  std::string error;
  REQUIRE_MESSAGE(read_back(o, r, error), error);
  CHECK(r.pool == "tenant-a");
  CHECK(r.threads == 7);
  CHECK(r.uid == o.uid);
  CHECK(r.gid == o.gid);
  CHECK(r.groups == o.groups);
  REQUIRE(r.umask.has_value());
  CHECK(*r.umask == 0027);
  CHECK(r.switch_interval == 0.0025);
  CHECK(r.request_read_timeout == 3);
  CHECK(r.maximum_connections == 77);
  CHECK(r.python_path == o.python_path);
  CHECK(r.allowed_clients == o.allowed_clients);
  REQUIRE(r.apps.size() == 2);
  CHECK(r.apps[0].mount == "/app");
  CHECK(r.apps[0].script == "/srv/a/site.wsgi");
  CHECK(r.apps[0].application_group == "%{GLOBAL}");
  CHECK_FALSE(r.apps[0].own_gil);
  CHECK(r.apps[1].application_group == "api");
  CHECK(r.apps[1].own_gil);
}

namespace {

// A value of `setting`'s kind, in its bounds, that differs by `n` from the
// other rows' and is no default.
void set_distinct(const wsgi_fpm::WorkerSetting& setting, std::int64_t n, wsgi_fpm::WorkerSettings& s) {
  using Kind = wsgi_fpm::WorkerSetting::Kind;
  using S = wsgi_fpm::WorkerSettings;
  std::int64_t v = std::min<std::int64_t>(setting.max, setting.min + 7 + n);
  switch (setting.kind) {
    case Kind::Seconds:
    case Kind::Count: s.*std::get<int S::*>(setting.member) = static_cast<int>(v); break;
    case Kind::Bytes:
      s.*std::get<std::uint64_t S::*>(setting.member) =
          static_cast<std::uint64_t>(std::max(v, setting.zero_or_at_least)) + 4096 * 1024;
      break;
    case Kind::Real: s.*std::get<double S::*>(setting.member) = 0.0001 * static_cast<double>(n + 2); break;  // never 0.005
    case Kind::Text: s.*std::get<std::string S::*>(setting.member) = "title #" + std::to_string(n) + " (x y)"; break;
    case Kind::List:
      s.*std::get<std::vector<std::string> S::*>(setting.member) = {"/srv/" + std::to_string(n), "/srv/b c"};
      break;
  }
}

}  // namespace

TEST_CASE("every row of the settings table survives the trip, at a value of its own") {
  WorkerOptions o;
  o.apps = {AppOptions{.mount = "/", .script = "/srv/a.wsgi"}};
  std::int64_t n = 0;
  for (const auto& setting : wsgi_fpm::kWorkerSettings) set_distinct(setting, n++, o);
  WorkerOptions r;
  std::string error;
  REQUIRE_MESSAGE(read_back(o, r, error), error);
  for (const auto& setting : wsgi_fpm::kWorkerSettings) {
    INFO(setting.key);
    CHECK(setting.text_of(r) == setting.text_of(o));
    wsgi_fpm::WorkerSettings only = wsgi_fpm::WorkerSettings{};
    REQUIRE(setting.set_from_text(setting.text_of(o), only));
    CHECK_FALSE(only == wsgi_fpm::WorkerSettings{});  // the row's value is no default
  }
  CHECK(static_cast<const wsgi_fpm::WorkerSettings&>(r) == static_cast<const wsgi_fpm::WorkerSettings&>(o));
}

TEST_CASE("the defaults survive the trip too") {
  WorkerOptions o;
  o.apps = {AppOptions{.mount = "/", .script = "/srv/a.wsgi"}};
  WorkerOptions r;
  r.threads = 3;
  r.display_name = "";
  r.switch_interval = 1;
  r.python_path = {"/x"};
  std::string error;
  REQUIRE_MESSAGE(read_back(o, r, error), error);
  CHECK(static_cast<const wsgi_fpm::WorkerSettings&>(r) == wsgi_fpm::WorkerSettings{});
}

TEST_CASE("a umask of 0 and no supplementary groups read back as such") {
  WorkerOptions o;
  o.umask = 0;
  AppOptions app;
  app.script = "/srv/hello.wsgi";
  o.apps = {app};
  WorkerOptions r;
  std::string error;
  REQUIRE_MESSAGE(read_back(o, r, error), error);
  REQUIRE(r.umask.has_value());
  CHECK(*r.umask == 0);
  CHECK(r.groups.empty());
}

TEST_CASE("a worker with no application is refused") {
  WorkerOptions r;
  std::string error;
  CHECK_FALSE(read_back(WorkerOptions(), r, error));
  CHECK(error == "no application: give --app-mount and --app-script");
}

TEST_CASE("the worker's command line holds every row of the table to the row's bounds") {
  using Kind = wsgi_fpm::WorkerSetting::Kind;
  for (const auto& setting : wsgi_fpm::kWorkerSettings) {
    INFO(setting.key);
    std::string key = "--" + std::string(setting.key);
    auto accepts = [&](const std::string& value) {
      std::vector<std::string> args = {"wsgi-fpm-worker", "--app-mount", "/", "--app-script", "/a.wsgi", key, value};
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      WorkerOptions r;
      std::string error;
      return parse_worker_options(static_cast<int>(argv.size()), argv.data(), r, error);
    };
    switch (setting.kind) {
      case Kind::Seconds:
      case Kind::Count:
      case Kind::Bytes:
        CHECK(accepts(std::to_string(setting.min)));
        CHECK(accepts(std::to_string(setting.max)));
        CHECK_FALSE(accepts(std::to_string(setting.min - 1)));
        if (setting.max < std::numeric_limits<std::int64_t>::max()) CHECK_FALSE(accepts(std::to_string(setting.max + 1)));
        if (setting.zero_or_at_least) {
          CHECK(accepts(std::to_string(setting.zero_or_at_least)));
          CHECK_FALSE(accepts(std::to_string(setting.zero_or_at_least - 1)));
        }
        CHECK_FALSE(accepts("ten"));
        CHECK_FALSE(accepts("1.5"));
        break;
      case Kind::Real:
        CHECK(accepts(std::to_string(setting.max)));
        CHECK(accepts("0.0001"));
        CHECK_FALSE(accepts(std::to_string(setting.min)));  // the minimum is exclusive
        CHECK_FALSE(accepts(std::to_string(setting.max) + ".5"));
        CHECK_FALSE(accepts("ten"));
        CHECK_FALSE(accepts("0.1s"));
        break;
      case Kind::Text:
      case Kind::List:
        CHECK(accepts("anything at all"));
        break;
    }
  }
}

TEST_CASE("a list setting splits at its separator and drops empty items") {
  for (const auto& setting : wsgi_fpm::kWorkerSettings) {
    if (setting.kind != wsgi_fpm::WorkerSetting::Kind::List) continue;
    INFO(setting.key);
    wsgi_fpm::WorkerSettings s;
    std::string sep(1, setting.separator);
    REQUIRE(setting.set_from_text(sep + "/a" + sep + sep + "/b c" + sep, s));
    CHECK(setting.text_of(s) == "/a" + sep + "/b c");
    REQUIRE(setting.set_from_text("", s));
    CHECK(setting.text_of(s).empty());
  }
}

TEST_CASE("eviction-timeout 0 is graceful-timeout's") {
  wsgi_fpm::WorkerSettings s;
  s.graceful_timeout = 30;
  CHECK(s.eviction_seconds() == 30);
  s.eviction_timeout = 5;
  CHECK(s.eviction_seconds() == 5);
}
