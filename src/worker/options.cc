#include "worker/options.h"

#include <charconv>
#include <functional>
#include <map>

namespace wsgi_fpm::worker {
namespace {

template <typename T>
bool parse_number(const std::string& text, T& out, int base = 10) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && end == text.data() + text.size();
}

// No <sstream> in the worker: iostreams would link libstdc++'s whole locale
// machinery into it statically (src/meson.build), 0.6 MB of code.
std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find(sep, start);
    if (end == std::string::npos) end = text.size();
    if (end > start) parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

template <typename T, typename... Base>
std::string to_text(T value, Base... base) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, base...);
  return ec == std::errc() ? std::string(buf, end) : std::string();
}

}  // namespace

bool parse_worker_options(int argc, char** argv, WorkerOptions& o, std::string& error) {
  auto app = [&]() -> AppOptions& {
    if (o.apps.empty()) o.apps.emplace_back();
    return o.apps.back();
  };
  using Setter = std::function<bool(const std::string&)>;
  auto number = [](auto& field) {
    return Setter([&field](const std::string& v) { return parse_number(v, field); });
  };
  auto text = [](std::string& field) {
    return Setter([&field](const std::string& v) { field = v; return true; });
  };
  std::map<std::string, Setter> setters = {
      {"--listen-fd", number(o.listen_fd)},
      {"--protocol", Setter([&](const std::string& v) { o.protocol = v; return v == "fastcgi" || v == "scgi"; })},
      {"--pool", text(o.pool)},
      {"--multiprocess", Setter([&](const std::string& v) { o.multiprocess = v == "1"; return v == "0" || v == "1"; })},
      {"--uid", Setter([&](const std::string& v) { uid_t x; if (!parse_number(v, x)) return false; o.uid = x; return true; })},
      {"--gid", Setter([&](const std::string& v) { gid_t x; if (!parse_number(v, x)) return false; o.gid = x; return true; })},
      {"--groups", Setter([&](const std::string& v) {
         for (const auto& g : split(v, ',')) {
           gid_t x;
           if (!parse_number(g, x)) return false;
           o.groups.push_back(x);
         }
         return true;
       })},
      {"--umask", Setter([&](const std::string& v) { mode_t x; if (!parse_number(v, x, 8)) return false; o.umask = x; return true; })},
      {"--home", text(o.home)},
      {"--python-home", text(o.python_home)},
      {"--app-mount", Setter([&](const std::string& v) { o.apps.emplace_back().mount = v; return !v.empty() && v[0] == '/'; })},
      {"--app-script", Setter([&](const std::string& v) { app().script = v; return true; })},
      {"--app-callable", Setter([&](const std::string& v) { app().callable = v; return true; })},
      {"--app-group", Setter([&](const std::string& v) { app().application_group = v; return true; })},
      {"--fork-template", Setter([&](const std::string& v) { o.fork_template = v == "1"; return v == "0" || v == "1"; })},
      {"--zygote", Setter([&](const std::string& v) { o.zygote = v == "1"; return v == "0" || v == "1"; })},
      {"--app-preload", Setter([&](const std::string& v) { app().preload = v == "1"; return v == "0" || v == "1"; })},
      {"--app-own-gil", Setter([&](const std::string& v) { app().own_gil = v == "1"; return v == "0" || v == "1"; })},
      {"--supervisor-pid", number(o.supervisor_pid)},
      {"--descriptor-limit", number(o.descriptor_limit)},
      {"--allowed-clients", Setter([&](const std::string& v) { o.allowed_clients = split(v, ','); return true; })},
      {"--script-uid", Setter([&](const std::string& v) { uid_t x; if (!parse_number(v, x)) return false; o.script_uid = x; return true; })},
      {"--script-gid", Setter([&](const std::string& v) { gid_t x; if (!parse_number(v, x)) return false; o.script_gid = x; return true; })},
      {"--log-bare", Setter([&](const std::string& v) { o.log_bare = v == "1"; return v == "0" || v == "1"; })},
  };
  // Every row of the settings table, within the row's bounds, as the
  // configuration checked them.
  for (const WorkerSetting& setting : kWorkerSettings) {
    setters["--" + std::string(setting.key)] =
        Setter([&o, &setting](const std::string& v) { return setting.set_from_text(v, o); });
  }
  for (int i = 1; i < argc; i += 2) {
    std::string key = argv[i];
    auto it = setters.find(key);
    if (it == setters.end()) {
      error = "unknown option " + key;
      return false;
    }
    if (i + 1 >= argc) {
      error = key + " needs a value";
      return false;
    }
    if (!it->second(argv[i + 1])) {
      error = "bad value for " + key + ": '" + argv[i + 1] + "'";
      return false;
    }
  }
  if (!o.zygote && (o.apps.empty() || o.apps.front().script.empty())) {  // a zygote serves no app
    error = "no application: give --app-mount and --app-script";
    return false;
  }
  return true;
}

std::vector<std::string> worker_arguments(const WorkerOptions& o) {
  std::vector<std::string> a;
  auto add = [&](const char* key, const std::string& value) {
    a.push_back(key);
    a.push_back(value);
  };
  add("--listen-fd", std::to_string(o.listen_fd));
  add("--protocol", o.protocol);
  add("--pool", o.pool);
  add("--multiprocess", o.multiprocess ? "1" : "0");
  if (o.uid) add("--uid", std::to_string(*o.uid));
  if (o.gid) add("--gid", std::to_string(*o.gid));
  if (!o.groups.empty()) {
    std::string g;
    for (auto x : o.groups) g += (g.empty() ? "" : ",") + std::to_string(x);
    add("--groups", g);
  }
  if (o.umask) {
    add("--umask", to_text(static_cast<unsigned>(*o.umask), 8));
  }
  if (!o.home.empty()) add("--home", o.home);
  if (!o.python_home.empty()) add("--python-home", o.python_home);
  for (const auto& app : o.apps) {
    add("--app-mount", app.mount);
    add("--app-script", app.script);
    add("--app-callable", app.callable);
    add("--app-group", app.application_group);
    add("--app-preload", app.preload ? "1" : "0");
    if (app.own_gil) add("--app-own-gil", "1");
  }
  // Every setting, default or not: one loop, nothing to forget.
  for (const WorkerSetting& setting : kWorkerSettings) {
    add(("--" + std::string(setting.key)).c_str(), setting.text_of(o));
  }
  if (o.supervisor_pid) add("--supervisor-pid", std::to_string(o.supervisor_pid));
  if (o.descriptor_limit) add("--descriptor-limit", std::to_string(o.descriptor_limit));
  if (o.log_bare) add("--log-bare", "1");
  if (!o.allowed_clients.empty()) {
    std::string n;
    for (const auto& x : o.allowed_clients) n += (n.empty() ? "" : ",") + x;
    add("--allowed-clients", n);
  }
  if (o.script_uid) add("--script-uid", std::to_string(*o.script_uid));
  if (o.script_gid) add("--script-gid", std::to_string(*o.script_gid));
  if (o.fork_template) add("--fork-template", "1");
  if (o.zygote) add("--zygote", "1");
  return a;
}

}  // namespace wsgi_fpm::worker
