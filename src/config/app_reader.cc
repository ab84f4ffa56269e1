#include "config/app_reader.h"

#include <array>
#include <cctype>

#include <fmt/core.h>

namespace wsgi_fpm::config {
namespace {

bool is_python_identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s.front()))) return false;
  for (unsigned char c : s) {
    if (!std::isalnum(c) && c != '_') return false;
  }
  return true;
}

// mod_wsgi's WSGIApplicationGroup: a fixed name, or one of the variables the
// worker expands per request. A typo in a variable would otherwise become a
// fixed group named "%{RESORCE}", which works but shares one interpreter.
bool is_valid_application_group(std::string_view g) {
  if (!g.starts_with("%{")) return true;
  static constexpr std::array<std::string_view, 4> kVariables = {"%{GLOBAL}", "%{SERVER}", "%{HOST}",
                                                                 "%{RESOURCE}"};
  for (auto v : kVariables) {
    if (g == v) return true;
  }
  return g.starts_with("%{ENV:") && g.ends_with("}") && g.size() > 7;
}

std::optional<App> read_app(Reader& r, const YAML::Node& node, const SourceLocation& where) {
  App app;
  app.where = where;
  auto entries = r.entries(node, where, "an app");
  if (!node.IsMap()) return std::nullopt;

  std::map<std::string_view, Reader::Handler> handlers = {
      {"mount", [&](const Entry& e) {
         auto s = r.string(e);
         if (!s) return;
         if (s->empty() || s->front() != '/') {
           r.error(e.value_where, fmt::format("'mount' must start with '/', not '{}'", *s));
           return;
         }
         // WSGIScriptAlias /app/ and /app mean the same prefix; SCRIPT_NAME
         // must not end in '/'.
         while (s->size() > 1 && s->back() == '/') s->pop_back();
         app.mount = *s;
       }},
      {"script", [&](const Entry& e) {
         if (auto s = r.absolute_path(e)) app.script = *s;
       }},
      {"callable", [&](const Entry& e) {
         auto s = r.string(e);
         if (s && !is_python_identifier(*s)) {
           r.error(e.value_where, fmt::format("'callable' must be a Python identifier, not '{}'", *s));
         } else if (s) {
           app.callable = *s;
         }
       }},
      {"application-group", [&](const Entry& e) {
         auto s = r.string(e);
         if (s && !is_valid_application_group(*s)) {
           r.error(e.value_where,
                   fmt::format("'application-group' must be %{{GLOBAL}}, %{{SERVER}}, %{{HOST}}, "
                               "%{{RESOURCE}}, %{{ENV:NAME}} or a plain name, not '{}'",
                               *s));
         } else if (s) {
           app.application_group = *s;
         }
       }},
      {"preload", [&](const Entry& e) {
         if (auto b = r.boolean(e)) app.preload = *b;
       }},
      {"own-gil", [&](const Entry& e) {
         if (auto b = r.boolean(e)) app.own_gil = *b;
       }},
  };
  for (const auto& e : entries) {
    if (handlers.count(e.key)) app.locations.set(e.key, e.value_where);
  }
  r.dispatch(entries, handlers,
             {{"process-group", "is not needed: an app runs in the pool that lists it"}});
  if (!app.locations.has("script")) {
    r.error(where, "app is missing required key 'script'");
  }
  return app;
}

}  // namespace

std::vector<App> read_apps(Reader& r, const Entry& e) {
  std::vector<App> apps;
  if (!e.value.IsSequence()) {
    r.error(e.value_where, fmt::format("'apps' must be a list, not {}", describe(e.value)));
    return apps;
  }
  if (e.value.size() == 0) {
    r.error(e.value_where, "'apps' must list at least one app");
    return apps;
  }
  for (const auto& node : e.value) {
    SourceLocation where = node.IsNull() ? e.value_where : r.at(node.Mark());
    auto app = read_app(r, node, where);
    if (!app) continue;
    // Two apps on one prefix: the second could never receive a request.
    for (const auto& other : apps) {
      if (other.mount == app->mount) {
        r.error(app->location_of("mount"),
                fmt::format("mount '{}' is already used by the app on line {}", app->mount, other.where.line));
        break;
      }
    }
    apps.push_back(std::move(*app));
  }
  return apps;
}

}  // namespace wsgi_fpm::config
