// `wsgi-fpm serve`'s options as a one-pool configuration
// (src/cli/serve_config.h): what an option turns into, read back by
// the config loader, and what a mistake in one says.
#include <doctest/doctest.h>

#include <optional>

#include <string>
#include <vector>

#include "config/fake_user_db.h"
#include "config/load.h"
#include "cli/serve_config.h"

using namespace wsgi_fpm;
using namespace wsgi_fpm::cli;

namespace {

config::FakeUserDb machine() {
  config::FakeUserDb db;
  db.add_user_with_group("site", 1001, "/srv/site").add_user_with_group("www-data", 33, "/var/www");
  return db;
}

ServeArgs args_of(std::vector<std::string> words) {
  std::vector<char*> argv{const_cast<char*>("serve")};
  for (auto& w : words) argv.push_back(w.data());
  ServeArgs args;
  std::string error;
  REQUIRE_MESSAGE(parse_serve_args(static_cast<int>(argv.size()), argv.data(), args, error), error);
  return args;
}

ServeDefaults defaults() {
  ServeDefaults d;
  d.name = "site";
  d.script = "/srv/site/site.wsgi";
  d.user = "site";
  d.home = "/srv/site";
  return d;
}

struct Loaded {
  config::LoadResult result;
  ServeYaml yaml;
  std::vector<std::string> messages() const {
    std::vector<std::string> out;
    for (const auto& d : result.errors) out.push_back(serve_message(d, yaml));
    return out;
  }
};

Loaded load(std::vector<std::string> words) {
  Loaded l{{}, serve_yaml(args_of(std::move(words)), defaults())};
  l.result = config::load_string(l.yaml.text, "wsgi-fpm serve", machine());
  return l;
}

}  // namespace

TEST_CASE("with no options: one pool on 127.0.0.1:9000 as the script's owner, the app in %{GLOBAL}, preloaded") {
  auto l = load({"/srv/site/site.wsgi"});
  REQUIRE_MESSAGE(l.result.ok(), l.yaml.text);
  const auto& pool = l.result.config->pools.at(0);
  CHECK(pool.name == "site");
  CHECK(pool.listen.str() == "127.0.0.1:9000");
  CHECK(pool.user.name == "site");
  CHECK(pool.home == "/srv/site");
  CHECK_FALSE(pool.processes_given);
  REQUIRE(pool.apps.size() == 1);
  CHECK(pool.apps[0].script == "/srv/site/site.wsgi");
  CHECK(pool.apps[0].application_group == "%{GLOBAL}");
  CHECK(pool.apps[0].preload);
}

TEST_CASE("every pool key of the file is an option, with its type kept") {
  auto l = load({"/srv/site/site.wsgi", "--processes", "3", "--threads=4", "--process-manager", "dynamic",
                 "--min-spare", "1", "--max-spare", "2", "--maximum-requests", "500", "--socket-mode", "0600",
                 "--listen", "unix:/run/site.sock", "--socket-user", "www-data", "--limit-request-body", "10M",
                 "--switch-interval", "0.01", "--script-reloading", "off", "--display-name", "site worker",
                 "--python-path", "/srv/site/lib:/srv/lib", "--cpu-priority", "-5"});
  REQUIRE_MESSAGE(l.result.ok(), l.messages().front());
  const auto& pool = l.result.config->pools.at(0);
  CHECK(pool.processes == 3);
  CHECK(pool.processes_given);
  CHECK(pool.threads == 4);
  CHECK(pool.process_manager == ProcessManagerMode::Dynamic);
  CHECK(pool.max_spare == 2);
  CHECK(pool.maximum_requests == 500);
  CHECK(pool.socket_mode == 0600);
  CHECK(pool.listen.str() == "/run/site.sock");
  CHECK(pool.socket_user.name == "www-data");
  CHECK(pool.limit_request_body == 10u << 20);
  CHECK(pool.switch_interval == doctest::Approx(0.01));
  CHECK_FALSE(pool.script_reloading);
  CHECK(pool.display_name == "site worker");
  CHECK(pool.python_path == std::vector<std::string>{"/srv/site/lib", "/srv/lib"});
  CHECK(pool.cpu_priority == -5);
}

TEST_CASE("app options, the pool's name, lists and the environment") {
  auto l = load({"/srv/site/site.wsgi", "--mount", "/app", "--callable", "app", "--application-group",
                 "%{RESOURCE}", "--name", "shop", "--listen", "[::1]:9001", "--allowed-clients",
                 "127.0.0.0/8,::1", "--environment", "A=1", "--environment", "B=two words",
                 "--preload", "no"});
  REQUIRE_MESSAGE(l.result.ok(), l.messages().front());
  const auto& pool = l.result.config->pools.at(0);
  CHECK(pool.name == "shop");
  CHECK(pool.listen.str() == "[::1]:9001");
  CHECK(pool.allowed_clients.size() == 2);
  CHECK(pool.environment.at("A") == "1");
  CHECK(pool.environment.at("B") == "two words");
  CHECK(pool.apps[0].mount == "/app");
  CHECK(pool.apps[0].callable == "app");
  CHECK(pool.apps[0].application_group == "%{RESOURCE}");
  CHECK_FALSE(pool.apps[0].preload);
}

TEST_CASE("the last of a repeated option wins") {
  auto l = load({"/srv/site/site.wsgi", "--threads", "2", "--threads", "8"});
  REQUIRE(l.result.ok());
  CHECK(l.result.config->pools[0].threads == 8);
}

TEST_CASE("a mistake is said about the option that made it, every one of them") {
  auto l = load({"/srv/site/site.wsgi", "--thread", "4", "--threads", "0", "--listen", "nowhere",
                 "--user", "nobody-here"});
  auto m = l.messages();
  REQUIRE(m.size() == 4);
  CHECK(m[0] == "--thread 4: unknown option --thread (did you mean --threads?)");
  CHECK(m[1] == "--threads 0: 'threads' must be between 1 and 1024, not 0");
  CHECK(m[2].starts_with("--listen nowhere: invalid listen address 'nowhere'"));
  CHECK(m[3].starts_with("--user nobody-here: "));
}

TEST_CASE("a value YAML would misread is quoted, and a number that is not one stays an error") {
  auto l = load({"/srv/site/site.wsgi", "--display-name", "#1: {x}", "--threads", "4 threads"});
  auto m = l.messages();
  REQUIRE(m.size() == 1);
  CHECK(m[0].starts_with("--threads 4 threads: "));
  auto ok = load({"/srv/site/site.wsgi", "--display-name", "#1: {x} \"q\""});
  REQUIRE(ok.result.ok());
  CHECK(ok.result.config->pools[0].display_name == "#1: {x} \"q\"");
}

TEST_CASE("options that cannot be parsed at all") {
  std::vector<std::string> words{"serve", "/a.wsgi", "--THREADS", "4"};
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  ServeArgs args;
  std::string error;
  CHECK_FALSE(parse_serve_args(static_cast<int>(argv.size()), argv.data(), args, error));
  CHECK(error == "unknown option --THREADS");
  std::vector<std::string> dangling{"serve", "/a.wsgi", "--threads"};
  argv.clear();
  for (auto& w : dangling) argv.push_back(w.data());
  ServeArgs fresh;
  CHECK_FALSE(parse_serve_args(static_cast<int>(argv.size()), argv.data(), fresh, error));
  CHECK(error == "--threads needs a value");
}

TEST_CASE("serve's command line goes through the commands' one parser") {
  auto parse = [](std::vector<std::string> words, std::string& error, bool* help = nullptr) {
    std::vector<char*> argv{const_cast<char*>("serve")};
    for (auto& w : words) argv.push_back(w.data());
    ServeArgs args;
    bool ok = parse_serve_args(static_cast<int>(argv.size()), argv.data(), args, error, help);
    return ok ? std::optional<ServeArgs>(args) : std::nullopt;
  };
  std::string error;
  auto args = parse({"--threads=4", "/a.wsgi", "--allow-root", "--display-name", "--x--"}, error);
  REQUIRE_MESSAGE(args, error);
  CHECK(args->script == "/a.wsgi");
  REQUIRE(args->options.size() == 3);
  CHECK(args->get("threads") == "4");
  CHECK(args->get("allow-root") == "true");
  CHECK(args->get("display-name") == "--x--");  // a value, though it looks like an option
  CHECK_FALSE(parse({"/a.wsgi", "/b.wsgi"}, error));
  CHECK(error == "more than one SCRIPT given: /a.wsgi and /b.wsgi");
  CHECK_FALSE(parse({"--threads", "4"}, error));
  CHECK(error == "no SCRIPT given");
  CHECK_FALSE(parse({"/a.wsgi", "--allow-root=yes"}, error));
  CHECK(error == "--allow-root takes no value");
  bool help = false;
  CHECK_FALSE(parse({"/a.wsgi", "--help", "--bogus!"}, error, &help));
  CHECK(help);
}
