#include "worker/application_group.h"

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
    return with_port(host, params.get_or("SERVER_PORT", ""));
  }
  if (pattern.starts_with("%{ENV:") && pattern.ends_with("}")) {
    auto name = pattern.substr(6, pattern.size() - 7);
    return std::string(params.get_or(name, ""));
  }
  return std::string(pattern);
}

}  // namespace wsgi_fpm::worker
