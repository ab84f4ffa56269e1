// Typed reads of YAML values that report, rather than throw: every read
// either yields a value or records a diagnostic at the value's line and column
// and yields nothing, so the loader carries on and finds the next problem too.
// Internal to the config module.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/diagnostic.h"

namespace wsgi_fpm::config {

// One `key: value` of a mapping, with both locations resolved.
struct Entry {
  std::string key;
  YAML::Node value;
  SourceLocation key_where;
  // The value's own position; for an empty value (`key:`) yaml-cpp's mark
  // points at the next line, so the key's position is used instead.
  SourceLocation value_where;
};

class Reader {
 public:
  Reader(std::string file, std::vector<Diagnostic>& errors) : file_(std::move(file)), errors_(errors) {}

  const std::string& file() const { return file_; }
  SourceLocation at(const YAML::Mark& mark) const;
  void error(const SourceLocation& where, std::string message) {
    errors_.push_back({where, std::move(message)});
  }

  // The entries of a mapping in file order. Reports a value that is not a
  // mapping (as `what`), non-scalar keys and repeated keys (only the first
  // of a repeated key is returned).
  std::vector<Entry> entries(const YAML::Node& map, const SourceLocation& where, std::string_view what);

  // Walks a mapping whose keys are known in advance: calls the handler of
  // each key; reports unknown keys with the closest known one as a hint.
  // `unsupported` maps keys that are deliberately absent to the rest of a
  // sentence saying why ("'python-eggs' is obsolete ...").
  using Handler = std::function<void(const Entry&)>;
  void dispatch(const std::vector<Entry>& entries, const std::map<std::string_view, Handler>& handlers,
                const std::map<std::string_view, std::string_view>& unsupported = {});

  // Scalars. Integers are plain decimal YAML scalars ("15" in quotes is a
  // string, and reported as such, so a typo never changes a value silently).
  std::optional<std::string> string(const Entry& e);
  // A string that must be non-empty and start with '/'.
  std::optional<std::string> absolute_path(const Entry& e);
  std::optional<std::int64_t> integer(const Entry& e, std::int64_t min,
                                      std::int64_t max = std::numeric_limits<std::int64_t>::max());
  // An integer of bytes with an optional K, M or G suffix (powers of 1024).
  std::optional<std::uint64_t> size(const Entry& e, std::uint64_t min, std::uint64_t max);
  std::optional<double> number(const Entry& e, double min_exclusive, double max);
  std::optional<bool> boolean(const Entry& e);
  // A permission mode: "0660" or 0660 (always octal, as chmod reads it), at most `max`.
  std::optional<unsigned> mode(const Entry& e, unsigned max);
  // One of `choices`.
  std::optional<std::string> choice(const Entry& e, std::span<const std::string_view> choices);

  // A list of strings; also a single string, split at `separator` if non-zero
  // (mod_wsgi writes python-path=/a:/b and supplementary-groups=a,b).
  // Each element comes with its own location.
  struct Item {
    std::string text;
    SourceLocation where;
  };
  std::optional<std::vector<Item>> string_list(const Entry& e, char separator);

 private:
  void wrong_type(const Entry& e, std::string_view expected);

  std::string file_;
  std::vector<Diagnostic>& errors_;
};

// "a mapping", "a list", "null", "the string \"15\"" or "'abc'": how a node
// appears in "must be X, not Y".
std::string describe(const YAML::Node& node);

// A quoted ("0660") or tagged (!!str 5) scalar, as opposed to a plain one.
bool is_quoted(const YAML::Node& node);

}  // namespace wsgi_fpm::config
