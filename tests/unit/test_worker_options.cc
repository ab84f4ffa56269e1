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

TEST_CASE("every row of the settings table survives the trip, at a value of its own") {
  WorkerOptions o;
  o.apps = {AppOptions{.mount = "/", .script = "/srv/a.wsgi"}};
  std::int64_t n = 0;
  for (const auto& setting : wsgi_fpm::kWorkerSettings) {
    // A value in the row's bounds that no other row has, and no default is.
    std::int64_t v = std::min<std::int64_t>(setting.max, setting.min + 7 + n++);
    if (setting.kind == wsgi_fpm::WorkerSetting::Kind::Bytes) {
      o.*setting.size = static_cast<std::uint64_t>(v) + 4096 * 1024;
    } else {
      o.*setting.number = static_cast<int>(v);
    }
  }
  WorkerOptions r;
  std::string error;
  REQUIRE_MESSAGE(read_back(o, r, error), error);
  for (const auto& setting : wsgi_fpm::kWorkerSettings) {
    INFO(setting.key);
    if (setting.kind == wsgi_fpm::WorkerSetting::Kind::Bytes) {
      CHECK(r.*setting.size == o.*setting.size);
    } else {
      CHECK(r.*setting.number == o.*setting.number);
    }
  }
  CHECK(static_cast<const wsgi_fpm::WorkerSettings&>(r) == static_cast<const wsgi_fpm::WorkerSettings&>(o));
  CHECK_FALSE(static_cast<const wsgi_fpm::WorkerSettings&>(r) == wsgi_fpm::WorkerSettings{});
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
    CHECK(accepts(std::to_string(setting.min)));
    CHECK(accepts(std::to_string(setting.max)));
    CHECK_FALSE(accepts(std::to_string(setting.min - 1)));
    if (setting.max < std::numeric_limits<std::int64_t>::max()) CHECK_FALSE(accepts(std::to_string(setting.max + 1)));
    CHECK_FALSE(accepts("ten"));
  }
}

TEST_CASE("eviction-timeout 0 is graceful-timeout's") {
  wsgi_fpm::WorkerSettings s;
  s.graceful_timeout = 30;
  CHECK(s.eviction_seconds() == 30);
  s.eviction_timeout = 5;
  CHECK(s.eviction_seconds() == 5);
}
