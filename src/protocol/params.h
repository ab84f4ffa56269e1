// The request model shared by both protocols: an ordered list of CGI parameters.
// FastCGI and SCGI both deliver a request head as name/value byte strings; the
// worker turns them into a WSGI environ. Kept free of Python and of I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wsgi_fpm::protocol {

struct Param {
  std::string name;
  std::string value;
};

class Params {
 public:
  void add(std::string_view name, std::string_view value) {
    items_.push_back({std::string(name), std::string(value)});
  }
  // Replaces the first parameter called `name`, or adds it.
  void set(std::string_view name, std::string_view value);
  void remove(std::string_view name);
  // First value for `name`; frontends never legitimately repeat a parameter.
  std::optional<std::string_view> get(std::string_view name) const;
  std::string_view get_or(std::string_view name, std::string_view fallback) const {
    auto v = get(name);
    return v ? *v : fallback;
  }
  const std::vector<Param>& items() const { return items_; }
  std::size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }
  void reserve(std::size_t n) { items_.reserve(n); }
  // Sum of name and value lengths: what request-header-limit bounds.
  std::size_t byte_size() const;

 private:
  std::vector<Param> items_;
};

// Parses a decimal CONTENT_LENGTH. Empty means 0; anything else that is not a
// plain non-negative decimal integer is nullopt.
std::optional<std::uint64_t> parse_content_length(std::string_view text);

}  // namespace wsgi_fpm::protocol
