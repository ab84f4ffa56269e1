#include "config/pool_reader.h"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/core.h>

#include "build_config.h"
#include "config/app_reader.h"
#include "config/identity.h"

namespace wsgi_fpm::config {
namespace {

constexpr std::int64_t kMaxSeconds = 365 * 24 * 3600;  // a year: anything more is a typo
constexpr std::int64_t kMaxProcesses = 4096;
constexpr std::uint64_t kMaxBytes = std::numeric_limits<std::int64_t>::max();

constexpr std::array<std::string_view, 2> kProtocols = {"fastcgi", "scgi"};
constexpr std::array<std::string_view, 3> kProcessManagers = {"static", "ondemand", "dynamic"};

// mod_wsgi options that have no meaning here, with the reason, so that a
// line moved over from Apache gets an explanation instead of "unknown key".
const std::map<std::string_view, std::string_view> kUnsupported = {
    {"python-eggs", "is obsolete (Python eggs) and not supported"},
    {"connect-timeout", "does not apply: the frontend's own connect timeout does"},
    {"response-buffer-size", "is not supported: responses stream to the frontend"},
    {"response-socket-timeout", "is not supported: use 'socket-timeout'"},
    {"send-buffer-size", "is not supported: sockets use the system's buffer sizes"},
    {"receive-buffer-size", "is not supported: sockets use the system's buffer sizes"},
    {"application-group", "is set per app, under 'apps'"},
};

// Pool names become socket file names and process titles.
bool is_valid_pool_name(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.' || name.front() == '-') return false;
  for (unsigned char c : name) {
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool is_valid_env_name(std::string_view name) {
  return !name.empty() && name.find('=') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

// A string that means nothing when empty (a name, a title, a locale).
std::optional<std::string> non_empty_string(Reader& r, const Entry& e) {
  auto s = r.string(e);
  if (s && s->empty()) {
    r.error(e.value_where, fmt::format("'{}' must not be empty", e.key));
    return std::nullopt;
  }
  return s;
}

std::optional<NameRef> name_ref(Reader& r, const Entry& e) {
  auto s = non_empty_string(r, e);
  if (!s) return std::nullopt;
  return NameRef{*s, e.value_where};
}

// One row of wsgi_fpm/worker_settings.h from its YAML spelling.
void read_setting(Reader& r, const Entry& e, const WorkerSetting& setting, WorkerSettings& out) {
  using Kind = WorkerSetting::Kind;
  switch (setting.kind) {
    case Kind::Seconds:
    case Kind::Count:
      if (auto v = r.integer(e, setting.min, setting.max)) {
        out.*std::get<int WorkerSettings::*>(setting.member) = static_cast<int>(*v);
      }
      return;
    case Kind::Bytes: {
      auto v = r.size(e, static_cast<std::uint64_t>(setting.min), static_cast<std::uint64_t>(setting.max));
      if (v && !setting.in_bounds(static_cast<std::int64_t>(*v))) {  // the hole below zero_or_at_least
        r.error(e.value_where, fmt::format("'{}' must be 0 ({}) or at least {}, not {}", e.key, setting.zero_means,
                                           setting.zero_or_at_least, e.value.Scalar()));
      } else if (v) {
        out.*std::get<std::uint64_t WorkerSettings::*>(setting.member) = *v;
      }
      return;
    }
    case Kind::Real:
      if (auto v = r.number(e, static_cast<double>(setting.min), static_cast<double>(setting.max)))
        out.*std::get<double WorkerSettings::*>(setting.member) = *v;
      return;
    case Kind::Text:
      if (auto s = non_empty_string(r, e)) out.*std::get<std::string WorkerSettings::*>(setting.member) = *s;
      return;
    case Kind::List:
      if (auto items = r.string_list(e, setting.separator)) {
        auto& list = out.*std::get<std::vector<std::string> WorkerSettings::*>(setting.member);
        list.clear();
        for (auto& item : *items) list.push_back(std::move(item.text));
      }
      return;
  }
}

// Checks between keys, once the whole pool is read.
// own-gil (PEP 684) is a property of an application group: the sub-interpreter
// is made with a GIL of its own or shares the main interpreter's.
void check_own_gil(Reader& r, Pool& pool) {
  constexpr bool kSupported = WSGI_FPM_PYTHON_MAJOR > 3 || (WSGI_FPM_PYTHON_MAJOR == 3 && WSGI_FPM_PYTHON_MINOR >= 12);
  const std::string needs = fmt::format(
      "'own-gil' needs Python 3.12 or later (a GIL per interpreter, PEP 684); this wsgi-fpm embeds Python {}.{}",
      WSGI_FPM_PYTHON_MAJOR, WSGI_FPM_PYTHON_MINOR);
  if (!kSupported && pool.own_gil) r.error(pool.location_of("own-gil"), needs);
  for (std::size_t i = 0; i < pool.apps.size(); ++i) {
    App& app = pool.apps[i];
    bool own = app.locations.has("own-gil");
    if (!own) app.own_gil = pool.own_gil;
    if (app.application_group == "%{GLOBAL}") {
      // The main interpreter has its GIL already; the pool's own-gil leaves
      // its apps there as they are.
      if (own && app.own_gil) {
        r.error(app.location_of("own-gil"),
                "'own-gil' applies to an application group of its own, not %{GLOBAL}: the main interpreter's GIL "
                "is the one the other groups share");
      }
      app.own_gil = false;
      continue;
    }
    if (!kSupported && own && app.own_gil) r.error(app.location_of("own-gil"), needs);
    // One interpreter, one GIL: apps that name the same group must agree.
    // (%{RESOURCE} names a group per mount, and mounts differ.)
    for (std::size_t j = 0; j < i && app.application_group != "%{RESOURCE}"; ++j) {
      const App& other = pool.apps[j];
      if (other.application_group == app.application_group && other.own_gil != app.own_gil) {
        r.error(own ? app.location_of("own-gil") : app.where,
                fmt::format("application group '{}' has own-gil: {} in the app on line {}; the apps of one group "
                            "share its interpreter and so its GIL",
                            app.application_group, other.own_gil ? "true" : "false", other.where.line));
        break;
      }
    }
  }
}

void check_pool(Reader& r, Pool& pool, const std::string& runtime_dir) {
  auto has = [&](std::string_view key) { return pool.locations.has(key); };

  if (!has("listen")) {
    std::string why;
    auto address = parse_address(fmt::format("{}/{}.sock", runtime_dir, pool.name), why);
    if (address) {
      pool.listen = *address;
    } else {
      r.error(pool.where, fmt::format("pool '{}' needs 'listen': the default address "
                                      "'{}/{}.sock' is invalid: {}",
                                      pool.name, runtime_dir, pool.name, why));
    }
  }
  if (pool.listen.is_tcp()) {
    for (std::string_view key : {"socket-user", "socket-group", "socket-mode"}) {
      if (has(key)) r.error(pool.location_of(key), fmt::format("'{}' applies only to UNIX sockets", key));
    }
    // TCP is reachable by anyone on the network: loopback only unless told.
    if (!has("allowed-clients")) {
      std::string why;
      pool.allowed_clients = {*parse_network("127.0.0.0/8", why), *parse_network("::1", why)};
    }
  } else if (has("allowed-clients")) {
    r.error(pool.location_of("allowed-clients"),
            "'allowed-clients' applies only to TCP listeners; UNIX sockets are guarded by 'socket-mode'");
  }

  if (pool.process_manager != ProcessManagerMode::Dynamic) {
    for (std::string_view key : {"min-spare", "max-spare"}) {
      if (has(key)) r.error(pool.location_of(key), fmt::format("'{}' applies only to process-manager: dynamic", key));
    }
  } else {
    if (!has("max-spare")) pool.max_spare = pool.processes;
    if (pool.max_spare > pool.processes) {
      r.error(pool.location_of("max-spare"), fmt::format("'max-spare' ({}) must not exceed 'processes' ({})",
                                                         pool.max_spare, pool.processes));
    } else if (pool.min_spare > pool.max_spare) {
      r.error(pool.location_of("min-spare"), fmt::format("'min-spare' ({}) must not exceed 'max-spare' ({})",
                                                         pool.min_spare, pool.max_spare));
    }
  }
  if (pool.process_manager != ProcessManagerMode::Ondemand && has("process-idle-timeout")) {
    r.error(pool.location_of("process-idle-timeout"),
            "'process-idle-timeout' applies only to process-manager: ondemand");
  }

  if (!has("apps")) {
    r.error(pool.where, fmt::format("pool '{}' is missing required key 'apps'", pool.name));
  }
  for (auto& app : pool.apps) {
    if (!app.locations.has("preload")) app.preload = pool.preload;
  }
  check_own_gil(r, pool);
  if (!pool.preload_fork && has("template-idle-timeout")) {
    r.error(pool.location_of("template-idle-timeout"), "'template-idle-timeout' applies only with preload-fork: true");
  }
  if (pool.preload_fork && has("apps") &&
      std::none_of(pool.apps.begin(), pool.apps.end(), [](const App& a) { return a.application_group == "%{GLOBAL}"; })) {
    r.error(pool.location_of("preload-fork"),
            "'preload-fork' shares the apps of application-group %{GLOBAL} (the main interpreter: CPython ends "
            "sub-interpreters at fork), and no app of this pool is in it");
  }
}

}  // namespace

Pool read_pool(Reader& r, const Entry& entry, const std::string& runtime_dir, const UserDb& users) {
  Pool pool;
  pool.name = entry.key;
  pool.where = entry.key_where;
  if (!is_valid_pool_name(pool.name)) {
    r.error(pool.where, fmt::format("invalid pool name '{}': use up to 64 letters, digits, '.', '-' and '_'",
                                    pool.name));
  }
  IdentityNames names;
  auto entries = r.entries(entry.value, entry.value_where, fmt::format("pool '{}'", pool.name));

  // Handler factories for the many keys that only store a checked value.
  auto seconds = [&](int& field, std::int64_t min = 0) -> Reader::Handler {
    return [&r, &field, min](const Entry& e) {
      if (auto v = r.integer(e, min, kMaxSeconds)) field = static_cast<int>(*v);
    };
  };
  auto integer = [&](int& field, std::int64_t min, std::int64_t max) -> Reader::Handler {
    return [&r, &field, min, max](const Entry& e) {
      if (auto v = r.integer(e, min, max)) field = static_cast<int>(*v);
    };
  };
  auto boolean = [&](bool& field) -> Reader::Handler {
    return [&r, &field](const Entry& e) {
      if (auto v = r.boolean(e)) field = *v;
    };
  };
  auto text = [&](std::string& field) -> Reader::Handler {
    return [&r, &field](const Entry& e) {
      if (auto s = non_empty_string(r, e)) field = *s;
    };
  };
  auto path = [&](std::optional<std::string>& field) -> Reader::Handler {
    return [&r, &field](const Entry& e) {
      if (auto s = r.absolute_path(e)) field = *s;
    };
  };
  auto name = [&](std::optional<NameRef>& field) -> Reader::Handler {
    return [&r, &field](const Entry& e) { field = name_ref(r, e); };
  };

  std::map<std::string_view, Reader::Handler> handlers = {
      // Identity
      {"user", name(names.user)},
      {"group", name(names.group)},
      {"supplementary-groups", [&](const Entry& e) {
         auto items = r.string_list(e, ',');
         if (!items) return;
         names.supplementary_groups.emplace();
         for (auto& item : *items) names.supplementary_groups->push_back({item.text, item.where});
       }},
      {"allow-root", boolean(pool.allow_root)},
      {"umask", [&](const Entry& e) {
         if (auto m = r.mode(e, 0777)) pool.umask = static_cast<mode_t>(*m);
       }},
      {"home", [&](const Entry& e) {
         if (auto s = r.absolute_path(e)) pool.home = *s;
         names.home_given = true;
       }},
      {"script-user", name(names.script_user)},
      {"script-group", name(names.script_group)},
      // Processes and threads
      {"processes", [&](const Entry& e) {
         pool.processes_given = true;
         if (auto v = r.integer(e, 1, kMaxProcesses)) pool.processes = static_cast<int>(*v);
       }},
      {"process-manager", [&](const Entry& e) {
         auto s = r.choice(e, kProcessManagers);
         if (s == "ondemand") pool.process_manager = ProcessManagerMode::Ondemand;
         if (s == "dynamic") pool.process_manager = ProcessManagerMode::Dynamic;
       }},
      {"process-idle-timeout", seconds(pool.process_idle_timeout, 1)},
      {"min-spare", integer(pool.min_spare, 0, kMaxProcesses)},
      {"max-spare", integer(pool.max_spare, 1, kMaxProcesses)},
      // The socket
      {"listen", [&](const Entry& e) {
         auto s = r.string(e);
         if (!s) return;
         std::string why;
         if (auto a = parse_address(*s, why)) {
           pool.listen = *a;
         } else {
           r.error(e.value_where, fmt::format("invalid listen address '{}': {}", *s, why));
         }
       }},
      {"protocol", [&](const Entry& e) {
         if (r.choice(e, kProtocols) == "scgi") pool.protocol = Protocol::Scgi;
       }},
      {"socket-user", name(names.socket_user)},
      {"socket-group", name(names.socket_group)},
      {"socket-mode", [&](const Entry& e) {
         if (auto m = r.mode(e, 0777)) pool.socket_mode = static_cast<mode_t>(*m);
       }},
      {"listen-backlog", integer(pool.listen_backlog, 1, 65535)},
      {"allowed-clients", [&](const Entry& e) {
         auto items = r.string_list(e, 0);
         if (!items) return;
         for (const auto& item : *items) {
           std::string why;
           if (auto n = parse_network(item.text, why)) {
             pool.allowed_clients.push_back(*n);
           } else {
             r.error(item.where, fmt::format("invalid client network '{}': {}", item.text, why));
           }
         }
       }},
      // Python
      {"python-home", path(pool.python_home)},
      {"lang", text(pool.lang)},
      {"locale", text(pool.locale)},
      {"environment", [&](const Entry& e) {
         for (const auto& var : r.entries(e.value, e.value_where, "'environment'")) {
           if (!is_valid_env_name(var.key)) {
             r.error(var.key_where, fmt::format("invalid environment variable name '{}'", var.key));
           } else if (!var.value.IsScalar()) {
             r.error(var.value_where, fmt::format("environment variable '{}' must be a string, not {}",
                                                  var.key, describe(var.value)));
           } else {
             pool.environment[var.key] = var.value.Scalar();
           }
         }
       }},
      {"script-reloading", boolean(pool.script_reloading)},
      {"preload", boolean(pool.preload)},
      {"preload-fork", boolean(pool.preload_fork)},
      {"template-idle-timeout", seconds(pool.template_idle_timeout)},
      {"zygote", boolean(pool.zygote)},
      {"own-gil", boolean(pool.own_gil)},
      {"apps", [&](const Entry& e) { pool.apps = read_apps(r, e); }},
      // Recycling and timeouts
      {"restart-interval", seconds(pool.restart_interval)},
      {"inactivity-timeout", seconds(pool.inactivity_timeout)},
      {"startup-timeout", seconds(pool.startup_timeout)},
      // Limits
      {"maximum-memory", [&](const Entry& e) {
         auto v = r.size(e, 0, kMaxBytes);
         // No Python process is this small; uWSGI's reload-on-rss counts in
         // megabytes, so a bare number here is most likely one of those.
         if (v && *v != 0 && *v < (1ull << 20)) {
           bool bare = e.value.Scalar() == std::to_string(*v);
           r.error(e.value_where, fmt::format("'maximum-memory' must be 0 (off) or at least 1M, not {}{}",
                                              e.value.Scalar(), bare ? fmt::format(" (bytes: did you mean {}M?)", *v)
                                                                     : std::string()));
         } else if (v) {
           pool.maximum_memory = *v;
         }
       }},
      {"error-log", path(pool.error_log)},
  };
  // The settings a worker takes as they are: one row each in
  // wsgi_fpm/worker_settings.h, read by kind.
  for (const WorkerSetting& setting : kWorkerSettings) {
    handlers[setting.key] = [&r, &pool, &setting](const Entry& e) { read_setting(r, e, setting, pool); };
  }

  for (const auto& e : entries) {
    if (handlers.count(e.key)) pool.locations.set(e.key, e.value_where);
  }
  r.dispatch(entries, handlers, kUnsupported);
  if (!entry.value.IsMap()) return pool;  // already reported; nothing more to check

  resolve_identity(pool, names, users, r);
  check_pool(r, pool, runtime_dir);
  return pool;
}

}  // namespace wsgi_fpm::config
