// The config module: what an operator sees when wsgi-fpm reads wsgi-fpm.yaml.
// Every bad config asserts the whole message and its line:column, since that
// is the contract of `wsgi-fpm check`. Users and groups come from a fake
// database, never from this machine's /etc/passwd.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "build_config.h"
#include "config/fake_user_db.h"
#include "config/load.h"
#include "config/suggest.h"

using namespace wsgi_fpm::config;
using wsgi_fpm::ProcessManagerMode;
namespace fs = std::filesystem;

namespace {

// Raw string literals indented with the test code: drop the first newline and
// the common indentation, so line and column numbers are the YAML's own.
std::string yaml(std::string_view text) {
  if (text.starts_with("\n")) text.remove_prefix(1);
  std::vector<std::string_view> lines;
  std::size_t indent = std::string_view::npos;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    lines.push_back(line);
    auto first = line.find_first_not_of(' ');
    if (first != std::string_view::npos) indent = std::min(indent, first);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
  }
  std::string out;
  for (auto line : lines) {
    out += line.size() > indent ? line.substr(indent) : std::string_view();
    out += '\n';
  }
  return out;
}

// A machine as root, with two tenants, a web server user and a shared group.
FakeUserDb machine() {
  FakeUserDb db;
  db.add_user_with_group("tenant-a", 1001, "/home/tenant-a")
      .add_user_with_group("tenant-b", 1002, "/home/tenant-b")
      .add_user_with_group("tenant-c", 1003, "/home/tenant-c")
      .add_user_with_group("www-data", 33, "/var/www")
      .add_group("staff", 50)
      .add_group("audio", 29);
  return db;
}

// The same machine, with wsgi-fpm started by tenant-a instead of root.
FakeUserDb machine_as_tenant_a() {
  FakeUserDb db = machine();
  db.run_as(1001, 1001);
  return db;
}

LoadResult load(std::string_view text, const UserDb& users) {
  return load_string(yaml(text), "/etc/wsgi-fpm/wsgi-fpm.yaml", users);
}

LoadResult load(std::string_view text) { return load(text, machine()); }

Config load_ok(std::string_view text, const UserDb& users) {
  auto result = load(text, users);
  for (const auto& e : result.errors) FAIL_CHECK("unexpected error: " << e.str());
  REQUIRE(result.ok());
  return *result.config;
}

Config load_ok(std::string_view text) { return load_ok(text, machine()); }

// The one error a config should produce, as `wsgi-fpm check` prints it
// (the file name shortened to "F").
std::string the_error(std::string_view text, const UserDb& users) {
  auto result = load(text, users);
  CHECK_FALSE(result.ok());
  std::string all;
  for (const auto& e : result.errors) {
    Diagnostic d = e;
    if (d.where.file == "/etc/wsgi-fpm/wsgi-fpm.yaml") d.where.file = "F";
    all += (all.empty() ? "" : " || ") + d.str();
  }
  CHECK_MESSAGE(result.errors.size() == 1, all);
  return all;
}

std::string the_error(std::string_view text) { return the_error(text, machine()); }

// A fresh directory for configs that include other files.
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/wsgi-fpm-test-config-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, std::string_view text) const {
    fs::path file = path / name;
    fs::create_directories(file.parent_path());
    std::ofstream(file) << yaml(text);
    return file.string();
  }
};

}  // namespace

// ---------------------------------------------------------------------------
// Good configs: defaults and resolution
// ---------------------------------------------------------------------------

TEST_CASE("a minimal pool gets mod_wsgi-express's defaults") {
  Config c = load_ok(R"(
    pools:
      tenant-a:
        user: tenant-a
        apps:
          - script: /srv/a/site.wsgi
  )");
  CHECK(c.runtime_dir == "/run/wsgi-fpm");
  CHECK(c.log == "stderr");
  REQUIRE(c.pools.size() == 1);
  const Pool& p = c.pools[0];
  CHECK(p.name == "tenant-a");
  CHECK(p.where.str() == "/etc/wsgi-fpm/wsgi-fpm.yaml:2:3");
  CHECK(p.processes == 1);
  CHECK_FALSE(p.processes_given);
  CHECK(p.threads == 15);
  CHECK(p.process_manager == ProcessManagerMode::Static);
  CHECK(p.display_name == "%{GROUP}");
  CHECK(p.lang == "C.UTF-8");
  CHECK(p.locale == "C.UTF-8");
  CHECK(p.queue_timeout == 45);
  CHECK(p.socket_timeout == 60);
  CHECK(p.request_read_timeout == 10);
  CHECK(p.maximum_connections == 512);
  CHECK(p.request_timeout == 60);
  CHECK(p.startup_timeout == 15);
  CHECK(p.deadlock_timeout == 60);
  CHECK(p.graceful_timeout == 15);
  CHECK(p.shutdown_timeout == 5);
  CHECK(p.interrupt_timeout == 0);
  CHECK(p.header_buffer_size == 32768);
  CHECK(p.request_header_limit == 65536);
  CHECK(p.limit_request_body == 0);
  CHECK(p.maximum_requests == 0);
  CHECK(p.listen_backlog == 1024);
  CHECK(p.socket_mode == 0660);
  CHECK_FALSE(p.umask.has_value());
  CHECK(p.script_reloading);
  CHECK_FALSE(p.allow_root);
  CHECK_FALSE(p.error_log.has_value());
  CHECK(p.protocol == Protocol::FastCgi);
  CHECK(p.listen.is_unix());
  CHECK(p.listen.path == "/run/wsgi-fpm/tenant-a.sock");
  CHECK(p.allowed_clients.empty());  // a UNIX socket is guarded by its mode
  REQUIRE(p.apps.size() == 1);
  CHECK(p.apps[0].mount == "/");
  CHECK(p.apps[0].script == "/srv/a/site.wsgi");
  CHECK(p.apps[0].callable == "application");
  CHECK(p.apps[0].application_group == "%{RESOURCE}");
  CHECK_FALSE(p.apps[0].preload);
}

TEST_CASE("a pool runs as its user, with the user's group and home, and owns its socket") {
  Config c = load_ok(R"(
    pools:
      tenant-a:
        user: tenant-a
        apps: [{script: /srv/a/site.wsgi}]
  )");
  const Pool& p = c.pools[0];
  CHECK(p.user == UserRef{"tenant-a", 1001});
  CHECK(p.group == GroupRef{"tenant-a", 1001});
  CHECK(p.home == "/home/tenant-a");
  CHECK(p.socket_user == UserRef{"tenant-a", 1001});
  CHECK(p.socket_group == GroupRef{"tenant-a", 1001});
  CHECK(p.supplementary_groups.empty());
}

TEST_CASE("group, supplementary groups and the socket's owner can be chosen") {
  Config c = load_ok(R"(
    pools:
      tenant-a:
        user: tenant-a
        group: staff
        supplementary-groups: audio,www-data
        socket-user: www-data
        socket-group: www-data
        script-user: tenant-a
        home: /srv/a
        apps: [{script: /srv/a/site.wsgi}]
  )");
  const Pool& p = c.pools[0];
  CHECK(p.group == GroupRef{"staff", 50});
  REQUIRE(p.supplementary_groups.size() == 2);
  CHECK(p.supplementary_groups[0] == GroupRef{"audio", 29});
  CHECK(p.supplementary_groups[1] == GroupRef{"www-data", 33});
  CHECK(p.socket_user == UserRef{"www-data", 33});
  CHECK(p.socket_group == GroupRef{"www-data", 33});
  CHECK(p.script_user == UserRef{"tenant-a", 1001});
  CHECK(p.home == "/srv/a");
  CHECK(p.location_of("socket-user").str() == "/etc/wsgi-fpm/wsgi-fpm.yaml:6:18");
}

TEST_CASE("mod_wsgi's #uid and #gid spellings resolve like names") {
  Config c = load_ok(R"(
    pools:
      a:
        user: "#1002"
        group: "#50"
        apps: [{script: /a.wsgi}]
  )");
  CHECK(c.pools[0].user == UserRef{"tenant-b", 1002});
  CHECK(c.pools[0].group == GroupRef{"staff", 50});
}

TEST_CASE("run by an ordinary user, pools run as that user without saying so") {
  Config c = load_ok(R"(
    pools:
      mine:
        apps: [{script: /home/tenant-a/site.wsgi}]
      also-mine:
        user: tenant-a
        apps: [{script: /home/tenant-a/other.wsgi}]
  )", machine_as_tenant_a());
  for (const Pool& p : c.pools) {
    CHECK(p.user == UserRef{"tenant-a", 1001});
    CHECK(p.group == GroupRef{"tenant-a", 1001});
    CHECK(p.home == "/home/tenant-a");
  }
}

TEST_CASE("root may run a pool as root only when the pool says allow-root") {
  Config c = load_ok(R"(
    pools:
      admin:
        user: root
        allow-root: true
        apps: [{script: /srv/admin.wsgi}]
  )");
  CHECK(c.pools[0].user == UserRef{"root", 0});
  CHECK(c.pools[0].allow_root);
}

TEST_CASE("processes given, even as 1, makes the pool multiprocess") {
  Config c = load_ok(R"(
    pools:
      one:
        user: tenant-a
        processes: 1
        apps: [{script: /a.wsgi}]
  )");
  CHECK(c.pools[0].processes == 1);
  CHECK(c.pools[0].processes_given);
}

TEST_CASE("the default socket follows runtime-dir, wherever runtime-dir is written") {
  Config c = load_ok(R"(
    pools:
      shop:
        user: tenant-a
        apps: [{script: /a.wsgi}]
    runtime-dir: /var/run/fpm/
  )");
  CHECK(c.pools[0].listen.str() == "/var/run/fpm/shop.sock");
  CHECK(c.location_of("runtime-dir").str() == "/etc/wsgi-fpm/wsgi-fpm.yaml:5:14");
}

TEST_CASE("a TCP pool accepts loopback clients only, unless told otherwise") {
  Config c = load_ok(R"(
    pools:
      local:
        user: tenant-a
        listen: 127.0.0.1:9001
        apps: [{script: /a.wsgi}]
      office:
        user: tenant-b
        listen: "[::]:9002"
        protocol: scgi
        allowed-clients: [10.0.0.0/8, "fd00::/8", 192.168.1.7]
        apps: [{script: /b.wsgi}]
  )");
  const Pool& local = c.pools[0];
  CHECK(local.listen.is_tcp());
  CHECK(local.listen.str() == "127.0.0.1:9001");
  REQUIRE(local.allowed_clients.size() == 2);
  CHECK(local.allowed_clients[0].str() == "127.0.0.0/8");
  CHECK(local.allowed_clients[1].str() == "::1/128");
  const Pool& office = c.pools[1];
  CHECK(office.protocol == Protocol::Scgi);
  CHECK(office.listen.ipv6);
  CHECK(office.listen.port == 9002);
  REQUIRE(office.allowed_clients.size() == 3);
  CHECK(office.allowed_clients[2].str() == "192.168.1.7/32");
}

TEST_CASE("modes are octal however they are written") {
  auto mode_of = [](const std::string& written) {
    Config c = load_ok("pools:\n  a:\n    user: tenant-a\n    socket-mode: " + written +
                       "\n    umask: " + written + "\n    apps: [{script: /a.wsgi}]\n");
    CHECK(c.pools[0].umask == c.pools[0].socket_mode);
    return c.pools[0].socket_mode;
  };
  CHECK(mode_of("\"0660\"") == 0660);
  CHECK(mode_of("0660") == 0660);  // a plain YAML integer, still octal as chmod reads it
  CHECK(mode_of("660") == 0660);
  CHECK(mode_of("0o640") == 0640);
  CHECK(mode_of("'0600'") == 0600);
  CHECK(mode_of("0") == 0);
}

TEST_CASE("sizes take K, M and G suffixes") {
  Config c = load_ok(R"(
    pools:
      a:
        user: tenant-a
        limit-request-body: 10M
        header-buffer-size: 64k
        memory-limit: 2G
        request-header-limit: 131072
        apps: [{script: /a.wsgi}]
  )");
  CHECK(c.pools[0].limit_request_body == 10u * 1024 * 1024);
  CHECK(c.pools[0].header_buffer_size == 64u * 1024);
  CHECK(c.pools[0].memory_limit == 2ull * 1024 * 1024 * 1024);
  CHECK(c.pools[0].request_header_limit == 131072);
}

TEST_CASE("python-path and supplementary-groups take mod_wsgi's one-string form or a list") {
  Config c = load_ok(R"(
    pools:
      a:
        user: tenant-a
        python-path: /srv/a/lib:/srv/a/vendor
        apps: [{script: /a.wsgi}]
      b:
        user: tenant-b
        python-path: [/srv/b/lib, /srv/b/vendor]
        supplementary-groups: [staff]
        apps: [{script: /b.wsgi}]
  )");
  CHECK(c.pools[0].python_path == std::vector<std::string>{"/srv/a/lib", "/srv/a/vendor"});
  CHECK(c.pools[1].python_path == std::vector<std::string>{"/srv/b/lib", "/srv/b/vendor"});
  CHECK(c.pools[1].supplementary_groups == std::vector<GroupRef>{{"staff", 50}});
}

TEST_CASE("every other pool key is read into the pool") {
  Config c = load_ok(R"(
    pools:
      busy:
        user: tenant-a
        processes: 8
        threads: 4
        process-manager: dynamic
        min-spare: 2
        max-spare: 4
        display-name: wsgi-busy
        lang: en_US.UTF-8
        locale: en_US.UTF-8
        listen-backlog: 512
        maximum-requests: 1000
        restart-interval: 3600
        inactivity-timeout: 600
        request-timeout: 30
        graceful-timeout: 10
        eviction-timeout: 20
        shutdown-timeout: 3
        startup-timeout: 5
        deadlock-timeout: 90
        queue-timeout: 10
        socket-timeout: 15
        request-read-timeout: 4
        maximum-connections: 64
        interrupt-timeout: 2
        virtual-memory-limit: 4G
        maximum-memory: 256M
        cpu-time-limit: 600
        cpu-priority: 5
        stack-size: 512K
        switch-interval: 0.01
        script-reloading: off
        preload: yes
        python-home: /srv/venv
        error-log: /var/log/wsgi-fpm/busy.log
        environment: {DJANGO_SETTINGS_MODULE: site.settings, WORKERS: 8}
        apps:
          - mount: /shop/
            script: /srv/shop.wsgi
            callable: app
            application-group: "%{GLOBAL}"
          - mount: /admin
            script: /srv/admin.wsgi
            application-group: "%{ENV:TENANT}"
            preload: false
  )");
  const Pool& p = c.pools[0];
  CHECK(p.processes == 8);
  CHECK(p.threads == 4);
  CHECK(p.process_manager == ProcessManagerMode::Dynamic);
  CHECK(p.min_spare == 2);
  CHECK(p.max_spare == 4);
  CHECK(p.display_name == "wsgi-busy");
  CHECK(p.lang == "en_US.UTF-8");
  CHECK(p.listen_backlog == 512);
  CHECK(p.maximum_requests == 1000);
  CHECK(p.restart_interval == 3600);
  CHECK(p.inactivity_timeout == 600);
  CHECK(p.request_timeout == 30);
  CHECK(p.graceful_timeout == 10);
  CHECK(p.eviction_timeout == 20);
  CHECK(p.shutdown_timeout == 3);
  CHECK(p.startup_timeout == 5);
  CHECK(p.deadlock_timeout == 90);
  CHECK(p.queue_timeout == 10);
  CHECK(p.socket_timeout == 15);
  CHECK(p.request_read_timeout == 4);
  CHECK(p.maximum_connections == 64);
  CHECK(p.interrupt_timeout == 2);
  CHECK(p.virtual_memory_limit == 4ull << 30);
  CHECK(p.maximum_memory == 256ull << 20);
  CHECK(p.cpu_time_limit == 600);
  CHECK(p.cpu_priority == 5);
  CHECK(p.stack_size == 512u * 1024);
  CHECK(p.switch_interval == doctest::Approx(0.01));
  CHECK_FALSE(p.script_reloading);
  CHECK(p.preload);
  CHECK(p.python_home == "/srv/venv");
  CHECK(p.error_log == "/var/log/wsgi-fpm/busy.log");
  CHECK(p.environment.at("DJANGO_SETTINGS_MODULE") == "site.settings");
  CHECK(p.environment.at("WORKERS") == "8");
  REQUIRE(p.apps.size() == 2);
  CHECK(p.apps[0].mount == "/shop");  // the trailing slash of WSGIScriptAlias /shop/ dropped
  CHECK(p.apps[0].callable == "app");
  CHECK(p.apps[0].application_group == "%{GLOBAL}");
  CHECK(p.apps[0].preload);         // from the pool
  CHECK_FALSE(p.apps[1].preload);   // its own
  CHECK(p.apps[1].location_of("script").str() == "/etc/wsgi-fpm/wsgi-fpm.yaml:44:17");
}

TEST_CASE("a dynamic pool keeps up to all its processes spare unless told otherwise") {
  Config c = load_ok(R"(
    pools:
      a:
        user: tenant-a
        processes: 6
        process-manager: dynamic
        apps: [{script: /a.wsgi}]
  )");
  CHECK(c.pools[0].min_spare == 1);
  CHECK(c.pools[0].max_spare == 6);
}

TEST_CASE("preload-fork is off unless asked, and needs an app in the main interpreter") {
  Config c = load_ok(R"(
    pools:
      a:
        user: tenant-a
        apps: [{script: /a.wsgi}]
      b:
        user: tenant-a
        preload-fork: true
        apps: [{script: /b.wsgi, application-group: "%{GLOBAL}"}, {mount: /x, script: /x.wsgi}]
  )");
  CHECK_FALSE(c.pools[0].preload_fork);
  CHECK(c.pools[1].preload_fork);
  CHECK(the_error(R"(
    pools:
      a:
        user: tenant-a
        preload-fork: true
        apps: [{script: /a.wsgi}]
  )") == "F:4:19: 'preload-fork' shares the apps of application-group %{GLOBAL} (the main interpreter: CPython "
         "ends sub-interpreters at fork), and no app of this pool is in it");
}

TEST_CASE("own-gil is off unless asked; on the pool it is each app's default, never %{GLOBAL}'s") {
  auto result = load(R"(
    pools:
      a:
        user: tenant-a
        own-gil: true
        apps:
          - {script: /a.wsgi}
          - {mount: /b, script: /b.wsgi, own-gil: false}
          - {mount: /m, script: /m.wsgi, application-group: "%{GLOBAL}"}
      b:
        user: tenant-b
        apps: [{script: /c.wsgi, application-group: shop, own-gil: true}, {mount: /d, script: /d.wsgi}]
  )");
  if (WSGI_FPM_PYTHON_MAJOR == 3 && WSGI_FPM_PYTHON_MINOR < 12) {
    // Python 3.11 has one GIL for all: both keys are refused where written.
    REQUIRE(result.errors.size() == 2);
    CHECK(result.errors[0].str() ==
          "/etc/wsgi-fpm/wsgi-fpm.yaml:4:14: 'own-gil' needs Python 3.12 or later (a GIL per interpreter, PEP 684); "
          "this wsgi-fpm embeds Python 3.11");
    CHECK(result.errors[1].where.line == 11);
    CHECK(result.errors[1].where.column == 64);
    return;
  }
  for (const auto& e : result.errors) FAIL_CHECK("unexpected error: " << e.str());
  REQUIRE(result.ok());
  const Pool& a = result.config->pools[0];
  CHECK(a.own_gil);
  CHECK(a.apps[0].own_gil);        // from the pool
  CHECK_FALSE(a.apps[1].own_gil);  // its own
  CHECK_FALSE(a.apps[2].own_gil);  // the main interpreter
  const Pool& b = result.config->pools[1];
  CHECK_FALSE(b.own_gil);
  CHECK(b.apps[0].own_gil);
  CHECK_FALSE(b.apps[1].own_gil);
}

TEST_CASE("own-gil is refused for %{GLOBAL}, and the apps of one group must agree on it") {
  CHECK(the_error(R"(
    pools:
      a:
        user: tenant-a
        apps: [{script: /a.wsgi, application-group: "%{GLOBAL}", own-gil: true}]
  )") == "F:4:71: 'own-gil' applies to an application group of its own, not %{GLOBAL}: the main interpreter's "
         "GIL is the one the other groups share");
  // (On Python 3.11 the first app's own-gil is refused as well: look for
  // the disagreement alone.)
  auto result = load(R"(
    pools:
      a:
        user: tenant-a
        apps:
          - {script: /a.wsgi, application-group: shop, own-gil: true}
          - {mount: /b, script: /b.wsgi, application-group: shop}
  )");
  REQUIRE_FALSE(result.errors.empty());
  CHECK(result.errors.back().str() ==
        "/etc/wsgi-fpm/wsgi-fpm.yaml:6:9: application group 'shop' has own-gil: true in the app on line 5; the "
        "apps of one group share its interpreter and so its GIL");
}

TEST_CASE("template-idle-timeout goes with preload-fork, and defaults to process-idle-timeout") {
  Config c = load_ok(R"(
    pools:
      a:
        user: tenant-a
        preload-fork: true
        template-idle-timeout: 0
        apps: [{script: /a.wsgi, application-group: "%{GLOBAL}"}]
  )");
  CHECK(c.pools[0].template_idle_timeout == 0);
  CHECK(the_error(R"(
    pools:
      a:
        user: tenant-a
        template-idle-timeout: 30
        apps: [{script: /a.wsgi}]
  )") == "F:4:28: 'template-idle-timeout' applies only with preload-fork: true");
}

TEST_CASE("zygote is on unless a pool says no") {
  Config c = load_ok(R"(
    pools:
      a:
        user: tenant-a
        apps: [{script: /a.wsgi}]
      b:
        user: tenant-a
        zygote: false
        apps: [{script: /b.wsgi}]
  )");
  CHECK(c.pools[0].zygote);
  CHECK_FALSE(c.pools[1].zygote);
  CHECK(the_error(R"(
    pools:
      a:
        user: tenant-a
        zygote: sometimes
        apps: [{script: /a.wsgi}]
  )") == "F:4:13: 'zygote' must be true or false, not 'sometimes'");
}

TEST_CASE("an empty pools mapping is allowed when includes bring the pools") {
  TempDir dir;
  dir.write("pools.d/a.yaml", R"(
    pools:
      a: {user: tenant-a, apps: [{script: /a.wsgi}]}
  )");
  auto main = dir.write("main.yaml", R"(
    include: pools.d/*.yaml
    pools:
  )");
  auto result = load_file(main, machine());
  REQUIRE(result.ok());
  CHECK(result.config->pools.size() == 1);
}

// ---------------------------------------------------------------------------
// The user database, read once per load
// ---------------------------------------------------------------------------

namespace {

// Three pools of two users, each socket given to www-data: what a shared host
// repeats a thousand times.
constexpr std::string_view kThreeTenants = R"(
    pools:
      a:
        user: tenant-a
        socket-group: www-data
        apps: [{script: /a.wsgi}]
      b:
        user: tenant-b
        socket-group: www-data
        apps: [{script: /b.wsgi}]
      a2:
        user: tenant-a
        socket-group: www-data
        apps: [{script: /a2.wsgi}]
  )";

}  // namespace

TEST_CASE("a load that can list the user database asks it nothing more") {
  auto db = std::make_shared<FakeUserDb>(machine());
  db->add_member("staff", "tenant-a").add_member("audio", "tenant-a");
  UserDbSnapshot users(db, db->listing());
  Config c = load_ok(kThreeTenants, users);
  CHECK(c.pools[2].user == UserRef{"tenant-a", 1001});
  CHECK(c.pools[1].socket_group == GroupRef{"www-data", 33});
  // initgroups' answer, as make_pool_spec asks it, from the listing too.
  CHECK(users.groups_of("tenant-a", 1001) == db->groups_of("tenant-a", 1001));
  CHECK(users.groups_of("tenant-a", 1001) == std::vector<gid_t>{1001, 29, 50});
  CHECK(users.groups_of("tenant-b", 1002) == std::vector<gid_t>{1002});
  CHECK(db->lookups() == 1);  // the groups_of asked of the fake itself, above
}

TEST_CASE("without a listing, a load asks the database once per name, not once per pool") {
  auto db = std::make_shared<FakeUserDb>(machine());
  UserDbSnapshot users(db, std::nullopt);
  Config c = load_ok(kThreeTenants, users);
  int after_load = db->lookups();
  // tenant-a, tenant-b, www-data, and the primary groups 1001 and 1002.
  CHECK(after_load == 5);
  load_ok(kThreeTenants, users);
  CHECK(db->lookups() == after_load);
  CHECK(users.groups_of("tenant-a", 1001) == std::vector<gid_t>{1001});
}

TEST_CASE("a name the listing lacks (an NSS source that does not list) is still found") {
  auto db = std::make_shared<FakeUserDb>(machine());
  UserDbListing partial = db->listing();
  std::erase_if(partial.users, [](const UserInfo& u) { return u.name == "tenant-b"; });
  UserDbSnapshot users(db, partial);
  Config c = load_ok(kThreeTenants, users);
  CHECK(c.pools[1].user == UserRef{"tenant-b", 1002});
  CHECK(users.user_by_name("nobody-here") == std::nullopt);
}

TEST_CASE("the user database is listed only when every NSS source lists cheaply") {
  CHECK(nss_sources_listable("passwd:         files systemd\ngroup:          files systemd\n"
                             "shadow:         files systemd\nhosts: files dns\n"));
  CHECK(nss_sources_listable("# a comment\npasswd: files [NOTFOUND=return] systemd # why\ngroup: files\n"));
  CHECK_FALSE(nss_sources_listable("passwd: files\ngroup: files ldap\n"));
  CHECK_FALSE(nss_sources_listable("passwd: files sss\ngroup: files\n"));
  CHECK_FALSE(nss_sources_listable("passwd: files\ngroup: files\ninitgroups: files sss\n"));
  CHECK_FALSE(nss_sources_listable("passwd: compat\ngroup: compat\n"));
  CHECK_FALSE(nss_sources_listable("passwd: files\n"));
  CHECK_FALSE(nss_sources_listable(""));
}

// ---------------------------------------------------------------------------
// Includes
// ---------------------------------------------------------------------------

TEST_CASE("include globs load one file per tenant, in name order, relative to the main file") {
  TempDir dir;
  dir.write("pools.d/20-tenant-b.yaml", R"(
    pools:
      tenant-b:
        user: tenant-b
        apps: [{script: /srv/b.wsgi}]
  )");
  dir.write("pools.d/10-tenant-a.yaml", R"(
    pools:
      tenant-a:
        user: tenant-a
        apps: [{script: /srv/a.wsgi}]
  )");
  dir.write("pools.d/README", "not yaml: [");
  dir.write("pools.d/empty.yaml", "# tenant removed\n");
  auto main = dir.write("wsgi-fpm.yaml", R"(
    runtime-dir: /run/fpm
    include: [pools.d/*.yaml]
    pools:
      main:
        user: www-data
        apps: [{script: /srv/main.wsgi}]
  )");
  auto result = load_file(main, machine());
  for (const auto& e : result.errors) FAIL_CHECK(e.str());
  REQUIRE(result.ok());
  const Config& c = *result.config;
  CHECK(c.source_file == main);
  REQUIRE(c.pools.size() == 3);
  CHECK(c.pools[0].name == "main");
  CHECK(c.pools[1].name == "tenant-a");
  CHECK(c.pools[2].name == "tenant-b");
  // Included pools use the main file's runtime-dir, and remember their file.
  CHECK(c.pools[1].listen.path == "/run/fpm/tenant-a.sock");
  CHECK(c.pools[1].where.str() == (dir.path / "pools.d/10-tenant-a.yaml").string() + ":2:3");
  CHECK(c.include == std::vector<std::string>{"pools.d/*.yaml"});
  CHECK(c.included_files.size() == 3);
}

TEST_CASE("an error in an included file names the included file") {
  TempDir dir;
  auto tenant = dir.write("pools.d/tenant-a.yaml", R"(
    pools:
      tenant-a:
        user: tenant-a
        threds: 4
        apps: [{script: /srv/a.wsgi}]
  )");
  auto main = dir.write("wsgi-fpm.yaml", "include: " + (dir.path / "pools.d/*.yaml").string() + "\n");
  auto result = load_file(main, machine());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].str() == tenant + ":4:5: unknown key 'threds' (did you mean 'threads'?)");
}

TEST_CASE("a syntax error in an included file names the included file") {
  TempDir dir;
  auto tenant = dir.write("pools.d/broken.yaml", "pools:\n  a: [1\n");
  auto main = dir.write("wsgi-fpm.yaml", "include: pools.d/*.yaml\n");
  auto result = load_file(main, machine());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].str() == tenant + ":3:1: YAML syntax error: end of sequence flow not found");
}

TEST_CASE("the same pool name in two files is refused, pointing at both") {
  TempDir dir;
  auto first = dir.write("pools.d/a.yaml", "pools:\n  shop: {user: tenant-a, apps: [{script: /a.wsgi}]}\n");
  auto second = dir.write("pools.d/b.yaml", "pools:\n  shop: {user: tenant-b, apps: [{script: /b.wsgi}]}\n");
  auto main = dir.write("wsgi-fpm.yaml", "include: pools.d/*.yaml\n");
  auto result = load_file(main, machine());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].str() == second + ":2:3: duplicate pool 'shop' (first defined at " + first + ":2:3)");
}

TEST_CASE("an included file may only define pools") {
  TempDir dir;
  auto tenant = dir.write("pools.d/a.yaml", R"(
    runtime-dir: /tmp
    include: other/*.yaml
    pool: {}
  )");
  auto main = dir.write("wsgi-fpm.yaml", "include: pools.d/*.yaml\n");
  auto result = load_file(main, machine());
  REQUIRE(result.errors.size() == 3);
  CHECK(result.errors[0].str() == tenant + ":1:1: 'runtime-dir' can only be set in the main configuration file");
  CHECK(result.errors[1].str() ==
        tenant + ":2:1: 'include' cannot be nested: list every pattern in the main configuration file");
  CHECK(result.errors[2].str() == tenant + ":3:1: unknown key 'pool' (did you mean 'pools'?)");
}

TEST_CASE("an include naming a file that does not exist is an error; an empty glob is not") {
  TempDir dir;
  auto main = dir.write("wsgi-fpm.yaml", R"(
    include:
      - conf.d/*.yaml
      - tenant-x.yaml
  )");
  auto result = load_file(main, machine());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].str() == main + ":3:5: included file '" + (dir.path / "tenant-x.yaml").string() +
                                      "' does not exist");
}

TEST_CASE("an include pattern that matches the main file itself is refused") {
  TempDir dir;
  dir.write("a.yaml", "pools:\n  a: {user: tenant-a, apps: [{script: /a.wsgi}]}\n");
  auto main = dir.write("main.yaml", "include: '*.yaml'\n");
  auto result = load_file(main, machine());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].str() ==
        main + ":1:10: include pattern matches the main configuration file '" + main + "'");
}

TEST_CASE("a missing main file is reported without a line") {
  auto result = load_file("/nonexistent/wsgi-fpm.yaml", machine());
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].str() == "/nonexistent/wsgi-fpm.yaml: cannot read the file: No such file or directory");
}

// ---------------------------------------------------------------------------
// Bad configs: one mistake each, the exact message and where
// ---------------------------------------------------------------------------

namespace {

// Whose machine a bad config is loaded on.
enum class As { root, tenant_a };

struct BadConfig {
  const char* name;   // the row's test case is named after it
  const char* yaml;   // indented as in the table: yaml() takes the indentation off
  const char* error;  // the one error, whole, as `wsgi-fpm check` prints it ("F" for the file)
  As as = As::root;
};

const BadConfig bad_configs[] = {
    {.name = "a misspelt key gets a suggestion",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            thread: 4
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:5: unknown key 'thread' (did you mean 'threads'?)"},
    {.name = "an underscore for a dash is a misspelling too",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            request_timeout: 4
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:5: unknown key 'request_timeout' (did you mean 'request-timeout'?)"},
    {.name = "a key far from any known one gets no suggestion",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            colour: blue
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:5: unknown key 'colour'"},
    {.name = "a misspelt top-level key gets a suggestion",
     .yaml = R"(
        runtime_dir: /run/x
        pools:
          a: {user: tenant-a, apps: [{script: /a.wsgi}]}
      )",
     .error = "F:1:1: unknown key 'runtime_dir' (did you mean 'runtime-dir'?)"},
    {.name = "a mod_wsgi option wsgi-fpm does not support says why",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            python-eggs: /tmp/eggs
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:5: 'python-eggs' is obsolete (Python eggs) and not supported"},
    {.name = "a quoted number is a string, not an integer",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            processes: "2"
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:16: 'processes' must be an integer, not the string \"2\""},
    {.name = "a word where a number belongs",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            threads: many
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:14: 'threads' must be an integer, not 'many'"},
    {.name = "zero threads is out of range",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            threads: 0
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:14: 'threads' must be between 1 and 1024, not 0"},
    {.name = "a negative timeout is out of range",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            request-timeout: -1
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:22: 'request-timeout' must be between 0 and 31536000, not -1"},
    {.name = "cpu-priority is a nice value",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            cpu-priority: 20
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:19: 'cpu-priority' must be between -20 and 19, not 20"},
    {.name = "an empty value is reported at its key",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            request-timeout:
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:5: 'request-timeout' must be an integer, not null"},
    {.name = "a size must be bytes with an optional suffix",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            limit-request-body: 10 MB
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:25: 'limit-request-body' must be a size in bytes (with an optional K, M or G), not '10 MB'"},
    {.name = "a tiny response header buffer is refused",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            header-buffer-size: 100
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:25: 'header-buffer-size' must be between 4096 and 67108864 bytes, not 100"},
    {.name = "a thread stack below the system minimum is refused",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            stack-size: 100
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:17: 'stack-size' must be 0 (the system default) or at least 16384, not 100"},
    {.name = "a python-path entry holding the separator is refused, not split in two",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            python-path: [/srv/lib, "/srv/a:b"]
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:29: 'python-path' entries must not contain ':', not '/srv/a:b'"},
    {.name = "a switch interval of 0 is refused",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            switch-interval: 0
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:22: 'switch-interval' must be greater than 0 and at most 60, not 0"},
    {.name = "an empty display-name is refused",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            display-name: ""
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:19: 'display-name' must not be empty"},
    {.name = "a boolean must be true or false",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            script-reloading: maybe
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:23: 'script-reloading' must be true or false, not 'maybe'"},
    {.name = "a socket mode must be octal",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            socket-mode: "0999"
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:18: 'socket-mode' must be an octal mode such as \"0660\", not '0999'"},
    {.name = "a socket mode has no setuid, setgid or sticky bits",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            socket-mode: "4770"
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:18: 'socket-mode' must be at most 0777, not 4770"},
    {.name = "a umask must be a mode, not a list",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            umask: [022]
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:12: 'umask' must be an octal mode such as \"0660\", not a list"},
    {.name = "an unknown user",
     .yaml = R"(
        pools:
          a:
            user: tenant-z
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:3:11: unknown user 'tenant-z'"},
    {.name = "an unknown numeric user id",
     .yaml = R"(
        pools:
          a:
            user: "#4242"
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:3:11: unknown user id 4242"},
    {.name = "an unknown group",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            group: wheel
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:12: unknown group 'wheel'"},
    {.name = "an unknown supplementary group is pointed at in the list",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            supplementary-groups: [staff, video]
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:35: unknown group 'video'"},
    {.name = "an unknown socket-user",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            socket-user: nginx
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:18: unknown user 'nginx'"},
    {.name = "as root, a pool must say which user it runs as",
     .yaml = R"(
        pools:
          anonymous:
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:2:3: pool 'anonymous' must set 'user' when wsgi-fpm runs as root"},
    {.name = "a pool running as root must say allow-root",
     .yaml = R"(
        pools:
          admin:
            user: root
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:3:11: pool 'admin' would run as root; set 'allow-root: true' if that is really wanted"},
    {.name = "run by an ordinary user, a pool cannot ask for another user",
     .yaml = R"(
        pools:
          a:
            user: tenant-b
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:3:11: user 'tenant-b' differs from the user wsgi-fpm runs as ('tenant-a'); "
             "only root can run pools as other users",
     .as = As::tenant_a},
    {.name = "run by an ordinary user, a pool cannot ask for another group",
     .yaml = R"(
        pools:
          a:
            group: staff
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:3:12: group 'staff' differs from the group wsgi-fpm runs as ('tenant-a'); only root can switch groups",
     .as = As::tenant_a},
    {.name = "run by an ordinary user, supplementary groups are out of reach",
     .yaml = R"(
        pools:
          a:
            supplementary-groups: staff
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:3:27: 'supplementary-groups' needs wsgi-fpm to run as root",
     .as = As::tenant_a},
    {.name = "run by an ordinary user, the socket cannot be given away",
     .yaml = R"(
        pools:
          a:
            socket-user: www-data
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:3:18: socket-user 'www-data' differs from the user wsgi-fpm runs as ('tenant-a'); "
             "only root can give sockets to other users",
     .as = As::tenant_a},
    {.name = "the same pool twice in one file",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            apps: [{script: /a.wsgi}]
          a:
            user: tenant-b
            apps: [{script: /b.wsgi}]
      )",
     .error = "F:5:3: duplicate key 'a' (first set on line 2)"},
    {.name = "the same key twice in one pool",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            threads: 4
            apps: [{script: /a.wsgi}]
            threads: 8
      )",
     .error = "F:6:5: duplicate key 'threads' (first set on line 4)"},
    {.name = "a pool name must be usable as a file name",
     .yaml = R"(
        pools:
          "tenant a/../x":
            user: tenant-a
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:2:3: invalid pool name 'tenant a/../x': use up to 64 letters, digits, '.', '-' and '_'"},
    {.name = "two pools on one UNIX socket",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            listen: /run/shared.sock
            apps: [{script: /a.wsgi}]
          b:
            user: tenant-b
            listen: unix:/run/shared.sock
            apps: [{script: /b.wsgi}]
      )",
     .error = "F:8:13: pool 'b' cannot listen on '/run/shared.sock': pool 'a' already listens on "
             "'/run/shared.sock' (/etc/wsgi-fpm/wsgi-fpm.yaml:4:13)"},
    {.name = "a pool's explicit socket may not take another pool's default one",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            apps: [{script: /a.wsgi}]
          b:
            user: tenant-b
            listen: /run/wsgi-fpm/a.sock
            apps: [{script: /b.wsgi}]
      )",
     .error = "F:7:13: pool 'b' cannot listen on '/run/wsgi-fpm/a.sock': pool 'a' already listens on "
             "'/run/wsgi-fpm/a.sock' (/etc/wsgi-fpm/wsgi-fpm.yaml:2:3)"},
    {.name = "a wildcard TCP address takes the port on every address",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            listen: 127.0.0.1:9001
            apps: [{script: /a.wsgi}]
          b:
            user: tenant-b
            listen: 0.0.0.0:9001
            apps: [{script: /b.wsgi}]
      )",
     .error = "F:8:13: pool 'b' cannot listen on '0.0.0.0:9001': pool 'a' already listens on "
             "'127.0.0.1:9001' (/etc/wsgi-fpm/wsgi-fpm.yaml:4:13)"},
    {.name = "a relative socket path",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            listen: run/a.sock
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:13: invalid listen address 'run/a.sock': expected /path, unix:/path, IPV4:PORT or [IPV6]:PORT"},
    {.name = "a host name instead of an address",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            listen: web.example:9001
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:13: invalid listen address 'web.example:9001': 'web.example' is not a numeric IPv4 address "
             "(expected /path, unix:/path, IPV4:PORT or [IPV6]:PORT)"},
    {.name = "an IPv6 address without brackets",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            listen: ::1:9001
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:13: invalid listen address '::1:9001': an IPv6 address must be written in brackets, as [::1]:9001"},
    {.name = "a port out of range",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            listen: 127.0.0.1:70000
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:13: invalid listen address '127.0.0.1:70000': port '70000' is not a number from 1 to 65535"},
    {.name = "an unknown protocol lists the known ones",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            protocol: http
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:15: 'protocol' must be one of fastcgi, scgi, not 'http'"},
    {.name = "an unknown process manager",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            process-manager: lazy
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:22: 'process-manager' must be one of static, ondemand, dynamic, not 'lazy'"},
    {.name = "spare processes only mean something to a dynamic pool",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            processes: 4
            min-spare: 2
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:5:16: 'min-spare' applies only to process-manager: dynamic"},
    {.name = "more spare processes than processes",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            processes: 2
            process-manager: dynamic
            max-spare: 5
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:6:16: 'max-spare' (5) must not exceed 'processes' (2)"},
    {.name = "an idle timeout only means something to an ondemand pool",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            process-idle-timeout: 30
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:27: 'process-idle-timeout' applies only to process-manager: ondemand"},
    {.name = "allowed-clients on a UNIX socket would be silently ignored, so it is an error",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            allowed-clients: [127.0.0.1]
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:22: 'allowed-clients' applies only to TCP listeners; UNIX sockets are guarded by 'socket-mode'"},
    {.name = "a socket mode on a TCP listener would be silently ignored, so it is an error",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            listen: 127.0.0.1:9001
            socket-mode: "0600"
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:5:18: 'socket-mode' applies only to UNIX sockets"},
    {.name = "a bad client network",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            listen: 127.0.0.1:9001
            allowed-clients: [10.0.0.0/33]
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:5:23: invalid client network '10.0.0.0/33': prefix length must be a number from 0 to 32"},
    {.name = "a pool without apps",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
      )",
     .error = "F:2:3: pool 'a' is missing required key 'apps'"},
    {.name = "an empty apps list",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            apps: []
      )",
     .error = "F:4:11: 'apps' must list at least one app"},
    {.name = "apps written as a mapping instead of a list",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            apps:
              script: /a.wsgi
      )",
     .error = "F:5:7: 'apps' must be a list, not a mapping"},
    {.name = "an app without a script",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            apps:
              - mount: /shop
      )",
     .error = "F:5:9: app is missing required key 'script'"},
    {.name = "a relative script path",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            apps:
              - script: site.wsgi
      )",
     .error = "F:5:17: 'script' must be an absolute path, not 'site.wsgi'"},
    {.name = "a mount without its leading slash",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            apps:
              - mount: shop
                script: /a.wsgi
      )",
     .error = "F:5:16: 'mount' must start with '/', not 'shop'"},
    {.name = "two apps on one mount",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            apps:
              - mount: /shop
                script: /a.wsgi
              - mount: /shop/
                script: /b.wsgi
      )",
     .error = "F:7:16: mount '/shop' is already used by the app on line 5"},
    {.name = "a misspelt application-group variable",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            apps:
              - script: /a.wsgi
                application-group: "%{RESORCE}"
      )",
     .error = "F:6:28: 'application-group' must be %{GLOBAL}, %{SERVER}, %{HOST}, %{RESOURCE}, "
             "%{ENV:NAME} or a plain name, not '%{RESORCE}'"},
    {.name = "a callable that Python could not name",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            apps:
              - script: /a.wsgi
                callable: my-app
      )",
     .error = "F:6:19: 'callable' must be a Python identifier, not 'my-app'"},
    {.name = "a misspelt app key",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            apps:
              - script: /a.wsgi
                callabel: app
      )",
     .error = "F:6:9: unknown key 'callabel' (did you mean 'callable'?)"},
    {.name = "environment as a list instead of a mapping",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            environment: [DEBUG=1]
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:18: 'environment' must be a mapping, not a list"},
    {.name = "an environment variable whose value is not a string",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            environment:
              PATHS: [/a, /b]
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:5:14: environment variable 'PATHS' must be a string, not a list"},
    {.name = "a relative log file",
     .yaml = R"(
        log: wsgi-fpm.log
        pools:
          a: {user: tenant-a, apps: [{script: /a.wsgi}]}
      )",
     .error = "F:1:6: 'log' must be 'stderr' or an absolute path, not 'wsgi-fpm.log'"},
    {.name = "a relative python-home",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
            python-home: venv
            apps: [{script: /a.wsgi}]
      )",
     .error = "F:4:18: 'python-home' must be an absolute path, not 'venv'"},
    {.name = "a pool that is not a mapping",
     .yaml = R"(
        pools:
          a: tenant-a
      )",
     .error = "F:2:6: pool 'a' must be a mapping, not 'tenant-a'"},
    {.name = "a configuration that is a list",
     .yaml = R"(
        - pools
      )",
     .error = "F:1:1: the configuration must be a mapping, not a list"},
    {.name = "a YAML syntax error has a position too",
     .yaml = R"(
        pools:
          a:
            user: tenant-a
           threads: 4
      )",
     .error = "F:4:4: YAML syntax error: end of map not found"},
    {.name = "a tab in the indentation",
     .yaml = "pools:\n  a:\n\tuser: tenant-a\n",
     .error = "F:3:2: YAML syntax error: end of map not found"},
    {.name = "two YAML documents in one file",
     .yaml = R"(
        pools:
          a: {user: tenant-a, apps: [{script: /a.wsgi}]}
        ---
        pools: {}
      )",
     .error = "F:4:1: only one YAML document is allowed (found a second after '---')"},
    {.name = "a config without any pool",
     .yaml = "runtime-dir: /run/wsgi-fpm\n",
     .error = "F:1:1: no pools defined: add a 'pools' mapping or an 'include'"},
};

}  // namespace

// Each row is a test case of its own, named after the row (so a run counts
// them, and a failure names its row): registered here as TEST_CASE's own
// macro does, one function per index. One row alone: test_config -tc="a tab*"
template <std::size_t I>
void check_bad_config() {
  const BadConfig& row = bad_configs[I];
  CHECK(the_error(row.yaml, row.as == As::tenant_a ? machine_as_tenant_a() : machine()) == std::string(row.error));
}

template <std::size_t... I>
int register_bad_configs(std::index_sequence<I...>) {
  (doctest::detail::regTest(doctest::detail::TestCase(&check_bad_config<I>, __FILE__, __LINE__,
                                                      doctest_detail_test_suite_ns::getCurrentTestSuite()) *
                            bad_configs[I].name),
   ...);
  return 0;
}

[[maybe_unused]] const int bad_configs_registered =
    register_bad_configs(std::make_index_sequence<std::size(bad_configs)>());

TEST_CASE("the bad configs' rows have names of their own") {
  // Two rows of one name would be one test case to doctest, and the second never run.
  std::set<std::string_view> names;
  for (const BadConfig& row : bad_configs) names.insert(row.name);
  CHECK(names.size() == std::size(bad_configs));
}

// Bad configs that check more than one message, or a good value beside them.

TEST_CASE("maximum-memory: a size, off by default, never so small that it must be a forgotten unit") {
  auto limit = [](const std::string& value) {
    return load_ok("pools:\n  a:\n    user: tenant-a\n    maximum-memory: " + value +
                   "\n    apps: [{script: /a.wsgi}]\n").pools[0].maximum_memory;
  };
  CHECK(load_ok("pools:\n  a:\n    user: tenant-a\n    apps: [{script: /a.wsgi}]\n").pools[0].maximum_memory == 0);
  CHECK(limit("0") == 0);
  CHECK(limit("300M") == 300ull << 20);
  CHECK(limit("1G") == 1ull << 30);
  CHECK(limit("1048576") == 1ull << 20);
  CHECK(the_error(R"(
    pools:
      a:
        user: tenant-a
        maximum-memory: 200
        apps: [{script: /a.wsgi}]
  )") == "F:4:21: 'maximum-memory' must be 0 (off) or at least 1M, not 200 (bytes: did you mean 200M?)");
  CHECK(the_error(R"(
    pools:
      a:
        user: tenant-a
        maximum-memory: 512K
        apps: [{script: /a.wsgi}]
  )") == "F:4:21: 'maximum-memory' must be 0 (off) or at least 1M, not 512K");
  CHECK(the_error(R"(
    pools:
      a:
        user: tenant-a
        maximum-memory: lots
        apps: [{script: /a.wsgi}]
  )") == "F:4:21: 'maximum-memory' must be a size in bytes (with an optional K, M or G), not 'lots'");
}

TEST_CASE("localhost is the one name taken, as 127.0.0.1") {
  Config c = load_ok(R"(
    pools:
      a:
        user: tenant-a
        listen: localhost:9001
        apps: [{script: /a.wsgi}]
  )");
  CHECK(c.pools[0].listen.str() == "127.0.0.1:9001");
  std::string why;
  CHECK(c.pools[0].listen.conflicts_with(*parse_address("127.0.0.1:9001", why)));
}

TEST_CASE("every mistake is reported at once, in file order") {
  auto result = load(R"(
    pools:
      b:
        user: tenant-b
        listen: /run/x.sock
        apps: [{script: /b.wsgi}]
      a:
        user: nobody-here
        thread: 4
        listen: /run/x.sock
        apps:
          - mount: x
  )");
  std::vector<std::string> got;
  for (const auto& e : result.errors) got.push_back(e.str().substr(e.str().find(".yaml:") + 6));
  CHECK(got == std::vector<std::string>{
                   "7:11: unknown user 'nobody-here'",
                   "8:5: unknown key 'thread' (did you mean 'threads'?)",
                   "9:13: pool 'a' cannot listen on '/run/x.sock': pool 'b' already listens on "
                   "'/run/x.sock' (/etc/wsgi-fpm/wsgi-fpm.yaml:4:13)",
                   "11:9: app is missing required key 'script'",
                   "11:16: 'mount' must start with '/', not 'x'",
               });
  CHECK_FALSE(result.config.has_value());
}

// ---------------------------------------------------------------------------
// Addresses and networks
// ---------------------------------------------------------------------------

TEST_CASE("listen addresses: the four spellings") {
  std::string why;
  auto path = parse_address("/run/a.sock", why);
  REQUIRE(path);
  CHECK(path->is_unix());
  CHECK(path->path == "/run/a.sock");

  auto unix_prefixed = parse_address("unix:/run/a.sock", why);
  REQUIRE(unix_prefixed);
  CHECK(*unix_prefixed == *path);

  auto v4 = parse_address("127.0.0.1:9001", why);
  REQUIRE(v4);
  CHECK(v4->is_tcp());
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 9001);
  CHECK_FALSE(v4->ipv6);

  auto v6 = parse_address("[::0001]:9001", why);
  REQUIRE(v6);
  CHECK(v6->host == "::1");  // canonical, so that duplicates are recognised
  CHECK(v6->ipv6);
  CHECK(v6->str() == "[::1]:9001");
}

TEST_CASE("listen addresses: what is refused") {
  std::string why;
  CHECK_FALSE(parse_address("unix:run/a.sock", why));
  CHECK(why == "a UNIX socket path must be absolute");
  CHECK_FALSE(parse_address("/" + std::string(200, 'x'), why));
  CHECK(why == "a UNIX socket path may have at most 107 bytes");
  CHECK_FALSE(parse_address("9001", why));
  CHECK_FALSE(parse_address("127.0.0.1:", why));
  CHECK_FALSE(parse_address("127.0.0.1:0", why));
  CHECK_FALSE(parse_address("[::1]9001", why));
  CHECK_FALSE(parse_address("[fe80::zz]:9001", why));
  CHECK(why == "'fe80::zz' is not a numeric IPv6 address");
  CHECK_FALSE(parse_address("", why));
}

TEST_CASE("listen addresses: what collides") {
  std::string why;
  auto a = [&](const char* text) { return *parse_address(text, why); };
  CHECK(a("/run/a.sock").conflicts_with(a("unix:/run/a.sock")));
  CHECK_FALSE(a("/run/a.sock").conflicts_with(a("/run/b.sock")));
  CHECK(a("127.0.0.1:80").conflicts_with(a("127.0.0.1:80")));
  CHECK_FALSE(a("127.0.0.1:80").conflicts_with(a("127.0.0.2:80")));
  CHECK_FALSE(a("127.0.0.1:80").conflicts_with(a("127.0.0.1:81")));
  CHECK(a("[::]:80").conflicts_with(a("127.0.0.1:80")));
  CHECK(a("[::1]:80").conflicts_with(a("0.0.0.0:80")));
}

TEST_CASE("client networks match peers, including IPv4 clients of a dual-stack listener") {
  std::string why;
  auto net = parse_network("10.1.2.3/8", why);
  REQUIRE(net);
  CHECK(net->str() == "10.0.0.0/8");

  sockaddr_in v4{};
  v4.sin_family = AF_INET;
  inet_pton(AF_INET, "10.200.0.1", &v4.sin_addr);
  CHECK(net->contains(reinterpret_cast<sockaddr*>(&v4)));
  inet_pton(AF_INET, "11.0.0.1", &v4.sin_addr);
  CHECK_FALSE(net->contains(reinterpret_cast<sockaddr*>(&v4)));

  sockaddr_in6 mapped{};
  mapped.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "::ffff:10.9.9.9", &mapped.sin6_addr);
  CHECK(net->contains(reinterpret_cast<sockaddr*>(&mapped)));

  auto loopback6 = parse_network("::1", why);
  REQUIRE(loopback6);
  CHECK_FALSE(loopback6->contains(reinterpret_cast<sockaddr*>(&mapped)));
  inet_pton(AF_INET6, "::1", &mapped.sin6_addr);
  CHECK(loopback6->contains(reinterpret_cast<sockaddr*>(&mapped)));

  auto odd = parse_network("192.168.1.0/23", why);
  REQUIRE(odd);
  CHECK(odd->str() == "192.168.0.0/23");

  CHECK_FALSE(parse_network("example.com", why));
  CHECK_FALSE(parse_network("::1/129", why));
  CHECK(why == "prefix length must be a number from 0 to 128");
}

TEST_CASE("suggestions come from edit distance") {
  std::vector<std::string_view> keys = {"threads", "processes", "request-timeout"};
  CHECK(edit_distance("thread", "threads") == 1);
  CHECK(edit_distance("", "abc") == 3);
  CHECK(closest_match("proceses", keys) == "processes");
  CHECK(closest_match("reqest_timout", keys) == "request-timeout");
  CHECK_FALSE(closest_match("colour", keys));
}

// ---------------------------------------------------------------------------
// The shipped example and `wsgi-fpm check`
// ---------------------------------------------------------------------------

namespace {

// The source tree, found from this file's name as the compiler saw it
// (relative to the build root, an ancestor of the test executable).
fs::path source_file(const std::string& relative_to_root) {
  fs::path self = __FILE__;
  std::vector<fs::path> roots;
  if (self.is_absolute()) roots.push_back(self.parent_path().parent_path().parent_path());
  for (fs::path dir = fs::read_symlink("/proc/self/exe").parent_path(); !dir.empty(); dir = dir.parent_path()) {
    roots.push_back(dir / self.parent_path().parent_path().parent_path());
    if (dir == dir.root_path()) break;
  }
  roots.push_back(fs::current_path());
  for (const auto& root : roots) {
    if (fs::exists(root / "src/config/load.h") && fs::exists(root / relative_to_root)) {
      return root / relative_to_root;
    }
  }
  FAIL("cannot find " << relative_to_root << " in the source tree");
  return {};
}

}  // namespace

TEST_CASE("the example configuration loads, with its example include") {
  fs::path example = source_file("etc/wsgi-fpm.yaml");
  TempDir dir;
  fs::copy_file(example, dir.path / "wsgi-fpm.yaml");
  fs::create_directories(dir.path / "pools.d");
  fs::copy_file(example.parent_path() / "pools.d/tenant-c.yaml.example", dir.path / "pools.d/tenant-c.yaml");

  auto result = load_file((dir.path / "wsgi-fpm.yaml").string(), machine());
  for (const auto& e : result.errors) FAIL_CHECK(e.str());
  REQUIRE(result.ok());
  const Config& c = *result.config;
  REQUIRE(c.pools.size() == 3);
  CHECK(c.pools[0].name == "tenant-a");
  CHECK(c.pools[0].processes_given);
  CHECK(c.pools[0].socket_group == GroupRef{"www-data", 33});
  CHECK(c.pools[1].name == "tenant-b");
  CHECK(c.pools[1].protocol == Protocol::Scgi);
  CHECK(c.pools[1].process_manager == ProcessManagerMode::Ondemand);
  CHECK(c.pools[2].name == "tenant-c");
  CHECK(c.pools[2].listen.path == "/run/wsgi-fpm/tenant-c.sock");

  // As shipped, the include matches nothing and the two tenants stand alone.
  auto shipped = load_file(example.string(), machine());
  REQUIRE(shipped.ok());
  CHECK(shipped.config->pools.size() == 2);
}

TEST_CASE("the man page documents every row of the settings table, with its default") {
  std::ifstream man(source_file("man/wsgi-fpm.yaml.5"));
  std::map<std::string, std::string> definitions;  // key -> its ".BR key \"...\"" line
  for (std::string line; std::getline(man, line);) {
    if (!line.starts_with(".BR ")) continue;
    auto space = line.find(' ', 4);
    if (space != std::string::npos && line.compare(space, 2, " \"") == 0)
      definitions[line.substr(4, space - 4)] = line;
  }
  const wsgi_fpm::WorkerSettings defaults;
  for (const auto& setting : wsgi_fpm::kWorkerSettings) {
    std::string key(setting.key);
    INFO(key);
    auto it = definitions.find(key);
    REQUIRE_MESSAGE(it != definitions.end(), "no \".BR " << key << " \\\"(...)\\\"\" entry in man/wsgi-fpm.yaml.5");
    auto at = it->second.find("default ");
    REQUIRE(at != std::string::npos);
    std::string stated = it->second.substr(at + 8);
    stated = stated.substr(std::min(stated.find_first_not_of("\" "), stated.size()));  // troff's quotes
    std::string actual = setting.text_of(defaults);
    if (actual.empty()) actual = "none";
    CHECK_MESSAGE(stated.starts_with(actual), "the man page says 'default " << stated << "'");
    CHECK(std::string_view("0123456789.").find(stated[std::min(actual.size(), stated.size() - 1)]) ==
          std::string_view::npos);
  }
}
