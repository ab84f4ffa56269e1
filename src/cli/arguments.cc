#include "cli/arguments.h"

#include <cstdio>

#include "cli/commands.h"

namespace wsgi_fpm::cli {

Arguments::Arguments(std::string command, std::string usage)
    : command_(std::move(command)), usage_(std::move(usage)) {}

Arguments& Arguments::flag(std::string name, bool* out) {
  options_.push_back({std::move(name), false, [out](const std::string&) {
                        *out = true;
                        return std::string();
                      }});
  return *this;
}

Arguments& Arguments::flag(std::string name, std::function<void()> on) {
  options_.push_back({std::move(name), false, [on = std::move(on)](const std::string&) {
                        on();
                        return std::string();
                      }});
  return *this;
}

Arguments& Arguments::option(std::string name, std::string* out) {
  options_.push_back({std::move(name), true, [out](const std::string& v) {
                        *out = v;
                        return std::string();
                      }});
  return *this;
}

Arguments& Arguments::each(std::string name, std::function<std::string(const std::string&)> take) {
  options_.push_back({std::move(name), true, std::move(take)});
  return *this;
}

Arguments& Arguments::alias(std::string short_name, std::string name) {
  aliases_.emplace_back(std::move(short_name), std::move(name));
  return *this;
}

Arguments& Arguments::config(std::string* out) {
  *out = kDefaultConfigPath;
  return option("--config", out).alias("-c", "--config");
}

Arguments& Arguments::positional(std::vector<std::string>* out, std::size_t most) {
  positional_ = out;
  most_positional_ = most;
  return *this;
}

Arguments& Arguments::other_options(std::function<std::string(const std::string&, const std::string&)> take) {
  other_options_ = std::move(take);
  return *this;
}

const Arguments::Option* Arguments::find(std::string_view name) const {
  for (const auto& [short_name, long_name] : aliases_) {
    if (name == short_name) name = long_name;
  }
  for (const auto& o : options_) {
    if (o.name == name) return &o;
  }
  return nullptr;
}

int Arguments::usage_error(std::string_view message) const {
  std::fprintf(stderr, "wsgi-fpm %s: %.*s (see wsgi-fpm %s --help)\n", command_.c_str(),
               static_cast<int>(message.size()), message.data(), command_.c_str());
  return 2;
}

int Arguments::parse(int argc, char** argv) {
  bool help = false;
  std::string wrong = read(argc, argv, &help);
  if (help) {
    std::fputs(usage_.c_str(), stdout);
    return 0;
  }
  return wrong.empty() ? -1 : usage_error(wrong);
}

std::string Arguments::read(int argc, char** argv, bool* help) const {
  *help = false;
  bool options_end = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (!options_end && (arg == "-h" || arg == "--help")) {
      *help = true;
      return {};
    }
    if (!options_end && arg == "--") {
      options_end = true;
      continue;
    }
    if (options_end || arg.empty() || arg[0] != '-' || arg == "-") {
      if (!positional_ || positional_->size() >= most_positional_) return "unexpected argument '" + arg + "'";
      positional_->push_back(arg);
      continue;
    }
    std::string name = arg, value;
    bool inline_value = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    const Option* option = find(name);
    if (!option && other_options_ && name.starts_with("--")) {
      if (!inline_value) {
        if (i + 1 >= argc) return name + " needs a value";
        value = argv[++i];
      }
      if (std::string wrong = other_options_(name.substr(2), value); !wrong.empty()) return wrong;
      continue;
    }
    if (!option) return "unknown option '" + name + "'";
    if (!option->takes_value && inline_value) return name + " takes no value";
    if (option->takes_value && !inline_value) {
      if (i + 1 >= argc) return name + " needs a value";
      value = argv[++i];
    }
    if (std::string wrong = option->take(value); !wrong.empty()) return name + ": " + wrong;
  }
  return {};
}

}  // namespace wsgi_fpm::cli
