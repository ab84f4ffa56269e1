#include "protocol/request_path.h"

#include <vector>

namespace wsgi_fpm::protocol {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percent_decode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%' && i + 2 < in.size()) {
      int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(in[i]);
  }
  return out;
}

std::string remove_dot_segments(std::string_view path) {
  if (path.find('.') == std::string_view::npos) return std::string(path);
  std::vector<std::string_view> segments;
  bool absolute = path.starts_with('/');
  if (absolute) path.remove_prefix(1);
  bool trailing_slash = false;
  while (true) {
    auto slash = path.find('/');
    auto seg = path.substr(0, slash);
    bool last = slash == std::string_view::npos;
    if (seg == "..") {
      if (!segments.empty()) segments.pop_back();
      trailing_slash = true;
    } else if (seg == ".") {
      trailing_slash = true;
    } else {
      segments.push_back(seg);
      trailing_slash = false;
    }
    if (last) break;
    path.remove_prefix(slash + 1);
  }
  std::string out;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (absolute || i > 0) out.push_back('/');
    out.append(segments[i]);
  }
  if (trailing_slash || out.empty()) out.push_back('/');
  return out;
}

std::string decoded_path(std::string_view request_uri) {
  auto q = request_uri.find('?');
  auto raw = request_uri.substr(0, q);
  // Decode first, then resolve dot segments, as nginx and Apache do: an
  // encoded "%2e%2e" must not climb out of a mount unnoticed.
  return remove_dot_segments(percent_decode(raw));
}

std::optional<PathSplit> split_at_mount(std::string_view decoded, std::string_view mount) {
  while (mount.ends_with('/')) mount.remove_suffix(1);
  PathSplit out;
  if (mount.empty()) {
    out.path_info = std::string(decoded);
    return out;
  }
  if (!decoded.starts_with(mount)) return std::nullopt;
  auto rest = decoded.substr(mount.size());
  if (!rest.empty() && rest.front() != '/') return std::nullopt;  // "/application" is not under "/app"
  out.script_name = std::string(mount);
  out.path_info = std::string(rest);
  return out;
}

}  // namespace wsgi_fpm::protocol
