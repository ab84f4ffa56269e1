// The commands of src/cli/ as the command line drives them: the shared
// argument helper, and `wsgi-fpm check` end to end.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli/arguments.h"
#include "cli/commands.h"

namespace fs = std::filesystem;
using wsgi_fpm::cli::Arguments;
using wsgi_fpm::cli::check_command;

namespace {

// Sends stdout and stderr to /dev/null while it lives: the command's output
// is its contract with a terminal, not with this test.
struct Silence {
  int saved_out = dup(1), saved_err = dup(2);
  Silence() {
    std::fflush(nullptr);
    int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    close(null);
  }
  ~Silence() {
    std::fflush(nullptr);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    close(saved_out);
    close(saved_err);
  }
};

// Captures stderr while it lives.
struct CaptureErr {
  int saved = dup(2);
  FILE* file = std::tmpfile();
  CaptureErr() {
    std::fflush(nullptr);
    dup2(fileno(file), 2);
  }
  std::string text() {
    std::fflush(nullptr);
    dup2(saved, 2);
    std::string out;
    std::rewind(file);
    char buf[512];
    while (std::fgets(buf, sizeof buf, file)) out += buf;
    return out;
  }
  ~CaptureErr() {
    dup2(saved, 2);
    close(saved);
    std::fclose(file);
  }
};

// argv for a command from a list of words (argv[0] the command's name).
struct Argv {
  std::vector<std::string> words;
  std::vector<char*> pointers;
  explicit Argv(std::vector<std::string> w) : words(std::move(w)) {
    for (auto& word : words) pointers.push_back(word.data());
    pointers.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(words.size()); }
  char** argv() { return pointers.data(); }
};

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/wsgi-fpm-test-cli-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    fs::path file = path / name;
    std::ofstream(file) << text;
    return file.string();
  }
};

}  // namespace

TEST_CASE("arguments: options with values either way, flags, -c, repeated options and positionals") {
  std::string config, method;
  bool json = false;
  std::vector<std::string> headers, positional;
  Arguments args("demo", "usage: demo\n");
  args.config(&config).flag("--json", &json).option("--method", &method);
  args.each("--header", [&](const std::string& v) {
    headers.push_back(v);
    return std::string();
  });
  args.positional(&positional, 2);
  CHECK(config == wsgi_fpm::cli::kDefaultConfigPath);
  Argv a({"demo", "-c", "/etc/x.yaml", "--json", "--method=PUT", "--header", "A: 1", "/sock", "--header=B: 2", "/path"});
  CHECK(args.parse(a.argc(), a.argv()) == -1);
  CHECK(config == "/etc/x.yaml");
  CHECK(json);
  CHECK(method == "PUT");
  CHECK(headers == std::vector<std::string>{"A: 1", "B: 2"});
  CHECK(positional == std::vector<std::string>{"/sock", "/path"});
}

TEST_CASE("arguments: every mistake is a usage error (status 2) that names the command and the option") {
  struct Case {
    std::vector<std::string> words;
    std::string message;
  };
  for (const Case& c : {Case{{"demo", "--bogus"}, "wsgi-fpm demo: unknown option '--bogus'"},
                        Case{{"demo", "--config"}, "wsgi-fpm demo: --config needs a value"},
                        Case{{"demo", "-c"}, "wsgi-fpm demo: -c needs a value"},
                        Case{{"demo", "--json=yes"}, "wsgi-fpm demo: --json takes no value"},
                        Case{{"demo", "a", "b"}, "wsgi-fpm demo: unexpected argument 'b'"},
                        Case{{"demo", "--port", "x"}, "wsgi-fpm demo: --port: not a number"}}) {
    INFO(c.message);
    std::string config;
    bool json = false;
    std::vector<std::string> positional;
    Arguments args("demo", "usage: demo\n");
    args.config(&config).flag("--json", &json).positional(&positional, 1);
    args.each("--port", [](const std::string& v) {
      return v.find_first_not_of("0123456789") == std::string::npos ? std::string() : std::string("not a number");
    });
    Argv a(c.words);
    CaptureErr err;
    int status = args.parse(a.argc(), a.argv());
    std::string said = err.text();
    CHECK(status == 2);
    CHECK(said.starts_with(c.message));
    CHECK(said.find("(see wsgi-fpm demo --help)") != std::string::npos);
  }
}

TEST_CASE("arguments: --help prints the usage and ends with status 0; after --, words are positional") {
  std::vector<std::string> positional;
  Arguments args("demo", "usage: demo\n");
  args.positional(&positional, 2);
  Argv help({"demo", "--help"});
  {
    Silence quiet;
    CHECK(args.parse(help.argc(), help.argv()) == 0);
  }
  Argv dashed({"demo", "--", "--help"});
  CHECK(args.parse(dashed.argc(), dashed.argv()) == -1);
  CHECK(positional == std::vector<std::string>{"--help"});
}

TEST_CASE("wsgi-fpm check: --help, a bad argument and a missing file") {
  char check[] = "check", help[] = "--help", bogus[] = "--bogus", dash_c[] = "-c",
       missing[] = "/nonexistent/wsgi-fpm.yaml";
  char* help_argv[] = {check, help, nullptr};
  char* bogus_argv[] = {check, bogus, nullptr};
  char* missing_argv[] = {check, dash_c, missing, nullptr};
  int help_status, bogus_status, missing_status;
  {
    Silence quiet;  // checked after, so that a failure is not silenced too
    help_status = check_command(2, help_argv);
    bogus_status = check_command(2, bogus_argv);
    missing_status = check_command(3, missing_argv);
  }
  CHECK(help_status == 0);
  CHECK(bogus_status == 2);
  CHECK(missing_status == 1);
}

TEST_CASE("wsgi-fpm check: a valid file is summed up on one line") {
  TempDir dir;
  // Runs against the real password database: root exists everywhere, and
  // allow-root keeps the pool valid whoever runs the test.
  auto path = dir.write("ok.yaml",
                        "pools:\n"
                        "  a:\n"
                        "    user: root\n"
                        "    allow-root: true\n"
                        "    apps: [{script: /a.wsgi}]\n");
  std::string arg = path;
  char check[] = "check", dash_c[] = "-c";
  char* argv[] = {check, dash_c, arg.data(), nullptr};
  int status;
  std::string printed;
  {
    fflush(stdout);
    int saved = dup(1);
    FILE* capture = std::tmpfile();
    dup2(fileno(capture), 1);
    status = check_command(3, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    std::rewind(capture);
    char buf[512];
    while (std::fgets(buf, sizeof buf, capture)) printed += buf;
    std::fclose(capture);
  }
  if (geteuid() == 0) {
    CHECK(status == 0);
    CHECK(printed == path + ": ok, 1 pool\n");
  } else {
    // Not root: the pool asks for another user, which check must refuse.
    CHECK(status == 1);
  }
}

