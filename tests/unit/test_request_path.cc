// Where a request lands: the worker decodes REQUEST_URI itself and splits it
// at an application's mount into SCRIPT_NAME and PATH_INFO. The tables are the
// awkward paths real clients send; each row says what an application sees.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/request_path.h"

using namespace wsgi_fpm::protocol;

TEST_CASE("percent_decode decodes each escape once and keeps invalid ones literally") {
  struct Row {
    std::string in, out;
  };
  std::vector<Row> rows = {
      {"", ""},
      {"plain", "plain"},
      {"%41%42", "AB"},
      {"%4a%4A", "JJ"},            // either case of hex digit
      {"x%20y", "x y"},
      {"a+b", "a+b"},              // '+' is a space only in query strings
      {"%2525", "%25"},            // decoded once, not twice
      {"%%41", "%A"},
      {"100%", "100%"},
      {"%4", "%4"},
      {"%", "%"},
      {"%G1", "%G1"},
      {"%1G", "%1G"},
      {"%C3%A9", "\xC3\xA9"},
      {"%FF%80", "\xFF\x80"},      // not UTF-8: still just bytes
      {"a%00b", std::string("a\0b", 3)},
  };
  for (const auto& row : rows) {
    CAPTURE(row.in);
    CHECK(percent_decode(row.in) == row.out);
  }
}

TEST_CASE("remove_dot_segments follows RFC 3986 section 5.2.4") {
  struct Row {
    std::string in, out;
  };
  std::vector<Row> rows = {
      {"/a/b/c/./../../g", "/a/g"},  // the RFC's own examples
      {"mid/content=5/../6", "mid/6"},
      {"/", "/"},
      {"/.", "/"},
      {"/..", "/"},
      {"/../../etc/passwd", "/etc/passwd"},  // never above the root
      {"/a/.", "/a/"},
      {"/a/..", "/"},
      {"/a/b/..", "/a/"},
      {"/a/./b", "/a/b"},
      {"/a//b/../c", "/a//c"},
      {"/a/b/", "/a/b/"},
      {"/.hidden/..x/...", "/.hidden/..x/..."},  // dots inside names are names
      {"/a.b/c.d", "/a.b/c.d"},
      {"/no/dots/at/all", "/no/dots/at/all"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.in);
    CHECK(remove_dot_segments(row.in) == row.out);
  }
}

TEST_CASE("decoded_path: what a request's path decodes to") {
  struct Row {
    std::string request_uri, path;
  };
  std::vector<Row> rows = {
      {"/", "/"},
      {"/app/x%20y?q=1", "/app/x y"},
      {"/app/x y", "/app/x y"},                      // a frontend that passed a raw space
      {"/app%2Fx", "/app/x"},                        // an encoded slash is a slash in PATH_INFO
      {"/caf%C3%A9/men%C3%BC", "/caf\xC3\xA9/men\xC3\xBC"},
      {"/caf\xC3\xA9", "/caf\xC3\xA9"},              // raw UTF-8 bytes pass as they are
      {"/%E2%82", "/\xE2\x82"},                      // truncated UTF-8: bytes, not an error
      {"//double//slash", "//double//slash"},        // slashes are not merged
      {"/trailing/", "/trailing/"},
      {"/a/./b/../c", "/a/c"},
      {"/a/b/..?x=/..", "/a/"},                      // the query is not part of the path
      {"/a?b?c", "/a"},
      {"/search?q=%2F", "/search"},
      {"/a%3Fb?c", "/a?b"},                          // an encoded '?' belongs to the path
      {"/50%25off", "/50%off"},
      {"/100%", "/100%"},
      {"/a+b", "/a+b"},
      {"?only=query", ""},                           // the router makes this "/"
      {"/%2e%2e%2e/x", "/.../x"},                    // three dots are a name, encoded or not
  };
  for (const auto& row : rows) {
    CAPTURE(row.request_uri);
    CHECK(decoded_path(row.request_uri) == row.path);
  }
}

TEST_CASE("percent-encoded dot segments are removed too, as nginx and Apache do") {
  // A client can hide ".." as %2e%2e. nginx and Apache both decode before
  // they remove dot segments, so for them /app/%2e%2e/admin is /admin; an
  // application must never see ".." in PATH_INFO.
  struct Row {
    std::string request_uri, path;
  };
  std::vector<Row> rows = {
      {"/app/%2e%2e/admin", "/admin"},
      {"/app/%2E%2E/admin", "/admin"},
      {"/app/.%2e/admin", "/admin"},
      {"/app/%2e/x", "/app/x"},
      {"/app/..%2fadmin", "/admin"},
      {"/static/%2e%2e/%2e%2e/etc/passwd", "/etc/passwd"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.request_uri);
    CHECK(decoded_path(row.request_uri) == row.path);
  }
}

TEST_CASE("split_at_mount splits on a segment boundary only") {
  struct Row {
    std::string path, mount;
    std::optional<std::pair<std::string, std::string>> split;  // SCRIPT_NAME, PATH_INFO
  };
  using P = std::pair<std::string, std::string>;
  std::vector<Row> rows = {
      {"/app", "/app", P{"/app", ""}},
      {"/app/", "/app", P{"/app", "/"}},
      {"/app/x/y", "/app", P{"/app", "/x/y"}},
      {"/app/x", "/app/", P{"/app", "/x"}},          // a mount's trailing slash is ignored
      {"/app", "/app/", P{"/app", ""}},
      {"/app//x", "/app", P{"/app", "//x"}},
      {"/application", "/app", std::nullopt},        // /application is not under /app
      {"/app.old/x", "/app", std::nullopt},
      {"/ap", "/app", std::nullopt},
      {"/APP/x", "/app", std::nullopt},              // paths are case-sensitive
      {"//app/x", "/app", std::nullopt},             // slashes are not merged
      {"/", "/app", std::nullopt},
      {"/a/b/c", "/a/b", P{"/a/b", "/c"}},
      {"/a/bc", "/a/b", std::nullopt},
      {"/caf\xC3\xA9/x", "/caf\xC3\xA9", P{"/caf\xC3\xA9", "/x"}},
      {"/anything/at/all", "/", P{"", "/anything/at/all"}},
      {"/", "/", P{"", "/"}},
      {"/x", "", P{"", "/x"}},
  };
  for (const auto& row : rows) {
    CAPTURE(row.path);
    CAPTURE(row.mount);
    auto split = split_at_mount(row.path, row.mount);
    REQUIRE(split.has_value() == row.split.has_value());
    if (!split) continue;
    CHECK(split->script_name == row.split->first);
    CHECK(split->path_info == row.split->second);
    CHECK(split->query_string.empty());
    // Nothing is lost: SCRIPT_NAME + PATH_INFO is the path the client asked for.
    CHECK(split->script_name + split->path_info == row.path);
  }
}

TEST_CASE("a request travels from REQUEST_URI to SCRIPT_NAME and PATH_INFO") {
  auto split = split_at_mount(decoded_path("/shop/caf%C3%A9/./menu/../items%2Fall?page=2"), "/shop");
  REQUIRE(split);
  CHECK(split->script_name == "/shop");
  CHECK(split->path_info == "/caf\xC3\xA9/items/all");

  // Dot segments cannot climb out of a mount into a sibling application.
  CHECK_FALSE(split_at_mount(decoded_path("/shop/../admin/users"), "/shop"));
  auto admin = split_at_mount(decoded_path("/shop/../admin/users"), "/admin");
  REQUIRE(admin);
  CHECK(admin->path_info == "/users");
}
