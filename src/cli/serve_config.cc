#include "cli/serve_config.h"

#include <algorithm>
#include <map>

#include "cli/arguments.h"

namespace wsgi_fpm::cli {
namespace {

// Options that belong to the app (apps[0]) rather than to the pool, and the
// one that names the pool instead of setting a key.
constexpr const char* kAppKeys[] = {"mount", "callable", "application-group", "preload"};
constexpr const char* kNameOption = "name";

bool is_app_key(const std::string& key) {
  return std::find(std::begin(kAppKeys), std::end(kAppKeys), key) != std::end(kAppKeys);
}

// A YAML scalar that reads back as `value`: plain when that is safe (so
// numbers and booleans keep their type), else double-quoted.
std::string scalar(const std::string& value) {
  auto plain_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("_./:+-@=,").find(c) != std::string_view::npos;
  };
  // "-5" is a plain number; a lone "-" would start a list.
  bool plain = !value.empty() && value != "-" && std::all_of(value.begin(), value.end(), plain_char) &&
               std::string_view(":,@").find(value.front()) == std::string_view::npos;
  if (plain) return value;
  std::string out = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out + "\"";
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t stop = std::min(text.find(separator, start), text.size());
    if (stop > start) parts.push_back(text.substr(start, stop - start));
    start = stop + 1;
  }
  return parts;
}

}  // namespace

bool ServeArgs::has(const std::string& key) const {
  return std::any_of(options.begin(), options.end(), [&](const auto& o) { return o.key == key; });
}

std::string ServeArgs::get(const std::string& key, const std::string& fallback) const {
  for (auto it = options.rbegin(); it != options.rend(); ++it) {
    if (it->key == key) return it->value;
  }
  return fallback;
}

bool parse_serve_args(int argc, char** argv, ServeArgs& out, std::string& error, bool* help) {
  std::vector<std::string> scripts;
  Arguments arguments("serve", "");
  arguments.flag("--allow-root", [&] { out.options.push_back({"allow-root", "true", "--allow-root"}); })
      .positional(&scripts, 2)
      .other_options([&](const std::string& key, const std::string& value) -> std::string {
        // Any pool key; the configuration reader judges it (and suggests).
        bool name_like = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        });
        if (!name_like) return "unknown option --" + key;
        out.options.push_back({key, value, "--" + key + " " + value});
        return {};
      });
  bool asked_for_help = false;
  error = arguments.read(argc, argv, &asked_for_help);
  if (help) *help = asked_for_help;
  if (!error.empty() || asked_for_help) return false;
  if (scripts.size() > 1) {
    error = "more than one SCRIPT given: " + scripts[0] + " and " + scripts[1];
    return false;
  }
  if (scripts.empty()) {
    error = "no SCRIPT given";
    return false;
  }
  out.script = scripts.front();
  return true;
}

ServeYaml serve_yaml(const ServeArgs& args, const ServeDefaults& defaults) {
  ServeYaml y;
  auto line = [&](const std::string& text, const std::string& origin) {
    y.text += text + "\n";
    y.origin.push_back(origin);
  };
  // The last of each key wins; --environment adds up.
  std::map<std::string, const ServeOption*> last;
  std::vector<std::string> order;
  std::vector<const ServeOption*> environment;
  for (const auto& o : args.options) {
    if (o.key == "environment") {
      environment.push_back(&o);
      continue;
    }
    if (!last.count(o.key)) order.push_back(o.key);
    last[o.key] = &o;
  }
  auto emit = [&](const std::string& indent, const ServeOption& o) {
    if (o.key == "allowed-clients") {  // a list in the file; comma-separated here
      std::string items;
      for (const auto& part : split(o.value, ',')) items += (items.empty() ? "" : ", ") + scalar(part);
      line(indent + o.key + ": [" + items + "]", o.given);
    } else {
      line(indent + o.key + ": " + scalar(o.value), o.given);
    }
  };

  std::string name = last.count(kNameOption) ? last[kNameOption]->value : defaults.name;
  line("pools:", "SCRIPT");
  line("  " + scalar(name) + ":", last.count(kNameOption) ? last[kNameOption]->given : "SCRIPT");
  std::vector<std::pair<std::string, std::string>> pool_defaults = {
      {"listen", defaults.listen}, {"user", defaults.user}, {"home", defaults.home}};
  for (const auto& [key, value] : pool_defaults) {
    if (!last.count(key) && !value.empty())
      line("    " + key + ": " + scalar(value), "the default " + key + " " + value);
  }
  for (const auto& key : order) {
    if (key != kNameOption && !is_app_key(key)) emit("    ", *last[key]);
  }
  if (!environment.empty()) {
    line("    environment:", environment.front()->given);
    for (const auto* o : environment) {
      auto eq = o->value.find('=');
      std::string var = o->value.substr(0, eq);
      std::string value = eq == std::string::npos ? std::string() : o->value.substr(eq + 1);
      line("      " + scalar(var) + ": " + scalar(value), o->given);
    }
  }
  line("    apps:", "SCRIPT");
  line("      - script: " + scalar(defaults.script), "SCRIPT " + defaults.script);
  // One script, one interpreter: the main one, loaded at start, as
  // mod_wsgi-express does.
  std::vector<std::pair<std::string, std::string>> app_defaults = {{"application-group", "%{GLOBAL}"},
                                                                   {"preload", "true"}};
  for (const auto& [key, value] : app_defaults) {
    if (!last.count(key)) line("        " + key + ": " + scalar(value), "the default " + key + " " + value);
  }
  for (const auto& key : order) {
    if (is_app_key(key)) emit("        ", *last[key]);
  }
  return y;
}

std::string serve_message(const config::Diagnostic& d, const ServeYaml& yaml) {
  std::string message = d.message;
  // The file's words for a key, turned into the command line's.
  if (message.starts_with("unknown key '")) {
    message = "unknown option --" + message.substr(13);
    auto quote = message.find('\'');
    if (quote != std::string::npos) message.erase(quote, 1);
    auto hint = message.find("(did you mean '");
    if (hint != std::string::npos) message.replace(hint, 15, "(did you mean --");
    auto close = message.rfind("'?)");
    if (close != std::string::npos) message.replace(close, 3, "?)");
  }
  if (d.where.line >= 1 && static_cast<std::size_t>(d.where.line) <= yaml.origin.size())
    return yaml.origin[static_cast<std::size_t>(d.where.line) - 1] + ": " + message;
  return message;
}

}  // namespace wsgi_fpm::cli
