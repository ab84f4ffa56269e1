// `wsgi-fpm serve SCRIPT --key value ...` as the one-pool configuration it
// stands for. Every pool key of wsgi-fpm.yaml(5) is an option of serve (SPEC
// §2), read and checked by the very code that reads the file, so `serve` and
// `run` cannot disagree about a key; a mistake is reported against the
// option that made it ("--threads 0: 'threads' must be ..."). Pure: the
// caller resolves the script and its owner.
#pragma once

#include <string>
#include <vector>

#include "config/diagnostic.h"

namespace wsgi_fpm::cli {

struct ServeOption {
  std::string key;    // "threads" for --threads
  std::string value;
  std::string given;  // as the user wrote it, for messages: "--threads 0"
};

struct ServeArgs {
  std::string script;
  std::vector<ServeOption> options;  // in command-line order; a later one wins
  bool has(const std::string& key) const;
  std::string get(const std::string& key, const std::string& fallback = {}) const;
};

// SCRIPT, --key value, --key=value and the flag --allow-root, read by the
// commands' one argument parser (cli/arguments.h). False with `error`, or
// with `*help` true (if given) when -h or --help came first.
bool parse_serve_args(int argc, char** argv, ServeArgs& out, std::string& error, bool* help = nullptr);

// What serve chooses when an option is not given (like mod_wsgi-express).
struct ServeDefaults {
  std::string name;    // the pool: SCRIPT's basename up to its first dot
  std::string script;  // absolute
  std::string user;    // as root: SCRIPT's owner; empty: the config's default
  std::string home;    // SCRIPT's directory
  std::string listen = "127.0.0.1:9000";
};

// The YAML text of the configuration, and for each of its lines the option
// (or default) it came from.
struct ServeYaml {
  std::string text;
  std::vector<std::string> origin;  // origin[line - 1]
};

ServeYaml serve_yaml(const ServeArgs& args, const ServeDefaults& defaults);

// A diagnostic about the YAML, said about the option it came from.
std::string serve_message(const config::Diagnostic& d, const ServeYaml& yaml);

}  // namespace wsgi_fpm::cli
