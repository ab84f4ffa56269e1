// Where a value came from, so that every check — at load time or much later,
// when the supervisor fails to bind a socket — can point at the line to fix.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace wsgi_fpm::config {

// 1-based line and column, as editors and compilers print them (yaml-cpp's
// marks are 0-based; the loader converts). Line 0 means the whole file, for
// problems such as a file that cannot be read.
struct SourceLocation {
  std::string file;
  int line = 1;
  int column = 1;

  // "FILE:LINE:COL", or "FILE" for line 0
  std::string str() const;
};

// The location of every key a mapping set, by its YAML spelling. Values that
// took their default have no entry: at() then answers with the mapping's own
// location (a pool's name, an app's list item), the best place to add the key.
class KeyLocations {
 public:
  void set(std::string_view key, SourceLocation where) {
    by_key_.insert_or_assign(std::string(key), std::move(where));
  }
  bool has(std::string_view key) const { return by_key_.find(key) != by_key_.end(); }
  const SourceLocation& at(std::string_view key, const SourceLocation& fallback) const {
    auto it = by_key_.find(key);
    return it == by_key_.end() ? fallback : it->second;
  }

 private:
  std::map<std::string, SourceLocation, std::less<>> by_key_;
};

}  // namespace wsgi_fpm::config
