#include "worker/application_group.h"

#include <cctype>
#include <cstdlib>
#include <optional>

namespace wsgi_fpm::worker {
namespace {

std::string with_port(std::string_view host, std::string_view port) {
  std::string out(host);
  if (!port.empty() && port != "80" && port != "443") {
    out += ":";
    out += port;
  }
  return out;
}

std::string server_name(const protocol::Params& params) {
  return with_port(params.get_or("SERVER_NAME", "localhost"), params.get_or("SERVER_PORT", ""));
}

}  // namespace

bool application_group_is_fixed(std::string_view pattern) {
  return pattern == "%{GLOBAL}" || !pattern.starts_with("%{");
}

std::string application_group(std::string_view pattern, const protocol::Params& params,
                              std::string_view script_name) {
  if (pattern.starts_with("%{ENV:") && pattern.ends_with("}")) {
    // As mod_wsgi: the request's variable, else the process environment (the
    // pool's `environment`); its value may itself be %{SERVER} and the like.
    // Unset anywhere, the group keeps the literal name: never the main
    // interpreter by accident.
    std::string name(pattern.substr(6, pattern.size() - 7));
    std::optional<std::string> value;
    if (auto v = params.get(name)) value = std::string(*v);
    else if (const char* env = std::getenv(name.c_str())) value = env;
    if (!value) return std::string(pattern);
    if (value->starts_with("%{") && !value->starts_with("%{ENV:")) return application_group(*value, params, script_name);
    return *value;
  }
  if (pattern == "%{GLOBAL}" || pattern.empty()) return "";
  if (pattern == "%{SERVER}") return server_name(params);
  if (pattern == "%{RESOURCE}") return server_name(params) + "|" + std::string(script_name);
  if (pattern == "%{HOST}") {
    std::string_view host = params.get_or("HTTP_HOST", params.get_or("SERVER_NAME", "localhost"));
    // The Host header may carry a port of its own; mod_wsgi uses the name.
    if (!host.starts_with("[")) {
      if (auto colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
    } else if (auto close = host.find(']'); close != std::string_view::npos) {
      host = host.substr(0, close + 1);
    }
    // Apache's r->hostname, which mod_wsgi uses, is lowercased.
    std::string lower(host);
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return with_port(lower, params.get_or("SERVER_PORT", ""));
  }
  return std::string(pattern);
}

}  // namespace wsgi_fpm::worker
