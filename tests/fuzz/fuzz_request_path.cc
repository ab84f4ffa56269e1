// Arbitrary request URIs, and arbitrary mounts: "<mount>\n<request uri>" when
// the input holds a newline, else the URI against a few typical mounts.
// Decoding and splitting must never crash, never lose bytes between
// SCRIPT_NAME and PATH_INFO, and never leave a dot segment behind, however
// it was encoded: an application must never see ".." in PATH_INFO.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "protocol/request_path.h"

using namespace wsgi_fpm::protocol;

namespace {

bool has_dot_segment(std::string_view path) {
  while (true) {
    auto slash = path.find('/');
    auto seg = path.substr(0, slash);
    if (seg == "." || seg == "..") return true;
    if (slash == std::string_view::npos) return false;
    path.remove_prefix(slash + 1);
  }
}

void check_split(std::string_view path, std::string_view mount) {
  auto split = split_at_mount(path, mount);
  std::string_view bare = mount;
  while (bare.ends_with('/')) bare.remove_suffix(1);
  if (!split) {
    FUZZ_CHECK(!bare.empty());
    return;
  }
  FUZZ_CHECK(split->script_name == bare);
  FUZZ_CHECK(split->script_name + split->path_info == path);
  FUZZ_CHECK(split->path_info.empty() || split->path_info[0] == '/' || bare.empty());
  FUZZ_CHECK(split->query_string.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view mount, uri = in;
  if (auto nl = in.find('\n'); nl != std::string_view::npos) {
    mount = in.substr(0, nl);
    uri = in.substr(nl + 1);
  }

  std::string decoded = percent_decode(uri);
  FUZZ_CHECK(decoded.size() <= uri.size());
  if (uri.find('%') == std::string_view::npos) FUZZ_CHECK(decoded == uri);

  std::string normal = remove_dot_segments(uri);
  FUZZ_CHECK(normal.size() <= uri.size() + 1);
  FUZZ_CHECK(remove_dot_segments(normal) == normal);
  if (uri.find('.') != std::string_view::npos) FUZZ_CHECK(!has_dot_segment(normal));
  if (uri.starts_with('/')) FUZZ_CHECK(normal.starts_with('/'));

  std::string path = decoded_path(uri);
  if (uri.starts_with('/')) FUZZ_CHECK(path.starts_with('/'));
  FUZZ_CHECK(!has_dot_segment(path));
  // The query never leaks into the path; only an encoded '?' may appear there.
  if (path.find('?') != std::string::npos) {
    std::string raw(uri.substr(0, uri.find('?')));
    for (auto& c : raw) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    FUZZ_CHECK(raw.find("%3f") != std::string::npos);
  }

  if (in.find('\n') != std::string_view::npos) {
    check_split(path, mount);
  } else {
    for (std::string_view m : {"/", "", "/app", "/app/", "/a/b"}) check_split(path, m);
  }
  return 0;
}
