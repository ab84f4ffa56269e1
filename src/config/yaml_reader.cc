#include "config/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

#include <fmt/core.h>

#include "config/suggest.h"

namespace wsgi_fpm::config {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Parses an optionally signed decimal integer, all of `text` or nothing.
// Sets `overflow` when the digits are fine but the value does not fit.
std::optional<std::int64_t> parse_decimal(std::string_view text, bool& overflow) {
  overflow = false;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end != text.data() + text.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    overflow = true;
    return std::nullopt;
  }
  if (ec != std::errc()) return std::nullopt;
  return value;
}

std::string range_text(std::int64_t min, std::int64_t max) {
  if (max == std::numeric_limits<std::int64_t>::max()) return fmt::format("at least {}", min);
  return fmt::format("between {} and {}", min, max);
}

}  // namespace

bool is_quoted(const YAML::Node& node) { return node.IsScalar() && node.Tag() != "?"; }

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return is_quoted(node) ? fmt::format("the string \"{}\"", node.Scalar())
                             : fmt::format("'{}'", node.Scalar());
    default:
      return "null";
  }
}

SourceLocation Reader::at(const YAML::Mark& mark) const {
  if (mark.is_null()) return SourceLocation{file_, 1, 1};
  return SourceLocation{file_, mark.line + 1, mark.column + 1};
}

void Reader::wrong_type(const Entry& e, std::string_view expected) {
  error(e.value_where, fmt::format("'{}' must be {}, not {}", e.key, expected, describe(e.value)));
}

std::vector<Entry> Reader::entries(const YAML::Node& map, const SourceLocation& where,
                                   std::string_view what) {
  std::vector<Entry> out;
  if (!map.IsMap()) {
    error(where, fmt::format("{} must be a mapping, not {}", what, describe(map)));
    return out;
  }
  for (const auto& pair : map) {
    // Copies, not references: yaml-cpp's iterator yields temporaries.
    YAML::Node key = pair.first;
    SourceLocation key_where = at(key.Mark());
    if (!key.IsScalar()) {
      error(key_where, fmt::format("a key must be a plain name, not {}", describe(key)));
      continue;
    }
    // yaml-cpp keeps every repeated key; YAML says they are an error, and
    // silently taking the first or the last would hide a mistake.
    auto first = std::find_if(out.begin(), out.end(), [&](const Entry& e) { return e.key == key.Scalar(); });
    if (first != out.end()) {
      error(key_where, fmt::format("duplicate key '{}' (first set on line {})", key.Scalar(),
                                   first->key_where.line));
      continue;
    }
    YAML::Node value = pair.second;
    SourceLocation value_where = value.IsNull() ? key_where : at(value.Mark());
    out.push_back(Entry{key.Scalar(), value, key_where, value_where});
  }
  return out;
}

void Reader::dispatch(const std::vector<Entry>& entries, const std::map<std::string_view, Handler>& handlers,
                      const std::map<std::string_view, std::string_view>& unsupported) {
  for (const auto& e : entries) {
    if (auto h = handlers.find(e.key); h != handlers.end()) {
      h->second(e);
      continue;
    }
    if (auto u = unsupported.find(e.key); u != unsupported.end()) {
      error(e.key_where, fmt::format("'{}' {}", e.key, u->second));
      continue;
    }
    std::vector<std::string_view> known;
    for (const auto& [name, handler] : handlers) known.push_back(name);
    if (auto hint = closest_match(e.key, known)) {
      error(e.key_where, fmt::format("unknown key '{}' (did you mean '{}'?)", e.key, *hint));
    } else {
      error(e.key_where, fmt::format("unknown key '{}'", e.key));
    }
  }
}

std::optional<std::string> Reader::string(const Entry& e) {
  if (!e.value.IsScalar()) {
    wrong_type(e, "a string");
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<std::string> Reader::absolute_path(const Entry& e) {
  auto s = string(e);
  if (!s) return std::nullopt;
  if (s->empty() || s->front() != '/') {
    error(e.value_where, fmt::format("'{}' must be an absolute path, not '{}'", e.key, *s));
    return std::nullopt;
  }
  return s;
}

std::optional<std::int64_t> Reader::integer(const Entry& e, std::int64_t min, std::int64_t max) {
  if (!e.value.IsScalar() || is_quoted(e.value)) {
    wrong_type(e, "an integer");
    return std::nullopt;
  }
  bool overflow = false;
  auto value = parse_decimal(e.value.Scalar(), overflow);
  if (!value && !overflow) {
    wrong_type(e, "an integer");
    return std::nullopt;
  }
  if (overflow || *value < min || *value > max) {
    error(e.value_where,
          fmt::format("'{}' must be {}, not {}", e.key, range_text(min, max), e.value.Scalar()));
    return std::nullopt;
  }
  return value;
}

std::optional<std::uint64_t> Reader::size(const Entry& e, std::uint64_t min, std::uint64_t max) {
  constexpr std::string_view kExpected = "a size in bytes (with an optional K, M or G)";
  if (!e.value.IsScalar() || is_quoted(e.value)) {
    wrong_type(e, kExpected);
    return std::nullopt;
  }
  std::string_view text = e.value.Scalar();
  std::uint64_t multiplier = 1;
  if (!text.empty()) {
    switch (std::toupper(static_cast<unsigned char>(text.back()))) {
      case 'K': multiplier = 1ull << 10; break;
      case 'M': multiplier = 1ull << 20; break;
      case 'G': multiplier = 1ull << 30; break;
      default: break;
    }
    if (multiplier != 1) text.remove_suffix(1);
  }
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || end != text.data() + text.size() ||
      (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    wrong_type(e, kExpected);
    return std::nullopt;
  }
  bool overflow = ec == std::errc::result_out_of_range || value > max / multiplier;
  if (!overflow) value *= multiplier;
  if (overflow || value < min || value > max) {
    error(e.value_where, fmt::format("'{}' must be between {} and {} bytes, not {}", e.key, min, max,
                                     e.value.Scalar()));
    return std::nullopt;
  }
  return value;
}

std::optional<double> Reader::number(const Entry& e, double min_exclusive, double max) {
  if (!e.value.IsScalar() || is_quoted(e.value)) {
    wrong_type(e, "a number");
    return std::nullopt;
  }
  const std::string& text = e.value.Scalar();
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) {
    wrong_type(e, "a number");
    return std::nullopt;
  }
  if (!(value > min_exclusive && value <= max)) {
    error(e.value_where, fmt::format("'{}' must be greater than {} and at most {}, not {}", e.key,
                                     min_exclusive, max, text));
    return std::nullopt;
  }
  return value;
}

std::optional<bool> Reader::boolean(const Entry& e) {
  if (e.value.IsScalar() && !is_quoted(e.value)) {
    // YAML 1.1's spellings, which also cover mod_wsgi's On/Off.
    std::string v = lower(e.value.Scalar());
    if (v == "true" || v == "yes" || v == "on") return true;
    if (v == "false" || v == "no" || v == "off") return false;
  }
  wrong_type(e, "true or false");
  return std::nullopt;
}

std::optional<unsigned> Reader::mode(const Entry& e, unsigned max) {
  if (!e.value.IsScalar()) {
    wrong_type(e, "an octal mode such as \"0660\"");
    return std::nullopt;
  }
  std::string_view text = e.value.Scalar();
  if (text.starts_with("0o")) text.remove_prefix(2);  // YAML 1.2's octal spelling
  unsigned value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 8);
  if (text.empty() || text.size() > 4 || ec != std::errc() || end != text.data() + text.size()) {
    error(e.value_where, fmt::format("'{}' must be an octal mode such as \"0660\", not '{}'", e.key,
                                     e.value.Scalar()));
    return std::nullopt;
  }
  if (value > max) {
    error(e.value_where, fmt::format("'{}' must be at most {:04o}, not {}", e.key, max, e.value.Scalar()));
    return std::nullopt;
  }
  return value;
}

std::optional<std::string> Reader::choice(const Entry& e, std::span<const std::string_view> choices) {
  auto s = string(e);
  if (!s) return std::nullopt;
  if (std::find(choices.begin(), choices.end(), *s) != choices.end()) return s;
  std::string list;
  for (auto c : choices) list += (list.empty() ? "" : ", ") + std::string(c);
  // No "did you mean": the whole list is short, and the nearest spelling can
  // mislead ("fcgi" is one edit from "scgi" but means fastcgi).
  error(e.value_where, fmt::format("'{}' must be one of {}, not '{}'", e.key, list, *s));
  return std::nullopt;
}

std::optional<std::vector<Reader::Item>> Reader::string_list(const Entry& e, char separator) {
  std::vector<Item> items;
  if (e.value.IsScalar()) {
    std::string_view text = e.value.Scalar();
    if (separator == 0) {
      items.push_back({std::string(text), e.value_where});
      return items;
    }
    // Split parts all point at the scalar: yaml-cpp gives no finer position.
    std::size_t start = 0;
    while (start <= text.size()) {
      std::size_t stop = std::min(text.find(separator, start), text.size());
      if (stop > start) items.push_back({std::string(text.substr(start, stop - start)), e.value_where});
      start = stop + 1;
    }
    return items;
  }
  if (!e.value.IsSequence()) {
    wrong_type(e, "a list");
    return std::nullopt;
  }
  bool ok = true;
  for (const auto& element : e.value) {
    SourceLocation where = element.IsNull() ? e.value_where : at(element.Mark());
    if (!element.IsScalar()) {
      error(where, fmt::format("'{}' entries must be strings, not {}", e.key, describe(element)));
      ok = false;
      continue;
    }
    // The one-string form's separator also joins the items on the worker's
    // command line, so an item cannot hold it.
    if (separator != 0 && element.Scalar().find(separator) != std::string::npos) {
      error(where, fmt::format("'{}' entries must not contain '{}', not '{}'", e.key, separator, element.Scalar()));
      ok = false;
      continue;
    }
    items.push_back({element.Scalar(), where});
  }
  if (!ok) return std::nullopt;
  return items;
}

}  // namespace wsgi_fpm::config
