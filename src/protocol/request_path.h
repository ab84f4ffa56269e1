// Where a request's path splits into SCRIPT_NAME and PATH_INFO.
//
// Frontends disagree (see shared/FRONTENDS.md): nginx puts the whole decoded
// path in SCRIPT_NAME, lighttpd and Apache split it by what their location or
// document root says. All of them send REQUEST_URI unchanged, so the split is
// computed from it and the application's mount, never trusted.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace wsgi_fpm::protocol {

struct PathSplit {
  std::string script_name;  // the mount without a trailing slash: "" for "/"
  std::string path_info;    // decoded bytes (latin-1 when turned into str)
  std::string query_string;
};

// Percent-decodes `in`; invalid escapes are kept literally (as Apache does).
std::string percent_decode(std::string_view in);

// Removes "." and ".." segments (RFC 3986 §5.2.4) from a raw path.
std::string remove_dot_segments(std::string_view path);

// The decoded request path of `request_uri` ("/app/x%20y?q=1" -> "/app/x y"),
// with dot segments resolved after decoding.
std::string decoded_path(std::string_view request_uri);

// Splits `decoded` at `mount` ("/" or "/app"), on a segment boundary. nullopt
// when the path is not under the mount.
std::optional<PathSplit> split_at_mount(std::string_view decoded, std::string_view mount);

}  // namespace wsgi_fpm::protocol
