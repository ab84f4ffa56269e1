// The command line of one `wsgi-fpm COMMAND`: its options declared once,
// parsed the same way by every command. `--name VALUE` and `--name=VALUE`
// are one thing; -h and --help print the command's usage; anything not
// declared is an error that names the command. Hand-written (not getopt):
// getopt_long's errors name the program, not the command, cannot be
// worded as ours are, and it keeps global state.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace wsgi_fpm::cli {

class Arguments {
 public:
  // `command`: "status", say, for messages; `usage`: printed for --help.
  Arguments(std::string command, std::string usage);

  // A flag: `*out` becomes true when it is given.
  Arguments& flag(std::string name, bool* out);
  // An option with a value: `*out` becomes it (the last one given wins).
  Arguments& option(std::string name, std::string* out);
  // Another name for the option or flag named `name` (-c for --config).
  Arguments& alias(std::string short_name, std::string name);
  // A flag, for each time it is given.
  Arguments& flag(std::string name, std::function<void()> on);
  // An option with a value, for each time it is given: `take(value)`
  // returns "" if it is good, else what is wrong with it.
  Arguments& each(std::string name, std::function<std::string(const std::string&)> take);
  // -c FILE / --config FILE, default the system's configuration file.
  Arguments& config(std::string* out);
  // Arguments that are not options, in order; at most `most` of them.
  Arguments& positional(std::vector<std::string>* out, std::size_t most);
  // Every `--name VALUE` or `--name=VALUE` not declared, in order (serve's
  // pool keys): `take(name, value)`, name without its "--", returns "" if
  // it is good, else the whole message about it.
  Arguments& other_options(std::function<std::string(const std::string&, const std::string&)> take);

  // What is wrong with argv[1..argc) ("" if nothing), printing nothing;
  // `*help` says whether -h or --help came first.
  std::string read(int argc, char** argv, bool* help) const;

  // Parses argv[1..argc) (argv[0] is the command). Returns -1 when the
  // command should go on; else the status to exit with (0 after --help,
  // 2 after a usage error, already printed).
  int parse(int argc, char** argv);
  // Prints "wsgi-fpm COMMAND: message" on stderr; returns 2.
  int usage_error(std::string_view message) const;

 private:
  struct Option {
    std::string name;
    bool takes_value = false;
    std::function<std::string(const std::string&)> take;
  };
  const Option* find(std::string_view name) const;
  std::string command_;
  std::string usage_;
  std::vector<Option> options_;
  std::vector<std::pair<std::string, std::string>> aliases_;
  std::vector<std::string>* positional_ = nullptr;
  std::size_t most_positional_ = 0;
  std::function<std::string(const std::string&, const std::string&)> other_options_;
};

}  // namespace wsgi_fpm::cli
