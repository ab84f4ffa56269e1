// What a fork request to the shared zygote carries after its ForkRequest
// header: the new worker's command line (parsed as a spawned worker's argv
// is) and its environment. A pure codec, so that both sides and the unit
// tests agree on it byte for byte.
//
// Layout: a decimal count, NUL, that many NUL-terminated strings, for the
// arguments and then for the environment. Neither can hold a NUL (they are
// C strings at the other end), so nothing needs escaping.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsgi_fpm {

struct CommandLine {
  std::vector<std::string> arguments;
  std::vector<std::string> environment;  // NAME=value
};

// The largest payload a zygote accepts (a pool's command line is a few KiB).
inline constexpr std::size_t kCommandLineMaxBytes = 256 * 1024;

inline std::string encode_command_line(const CommandLine& line) {
  std::string out;
  for (const auto* list : {&line.arguments, &line.environment}) {
    out += std::to_string(list->size());
    out += '\0';
    for (const auto& s : *list) {
      out.append(s.data(), s.find('\0') == std::string::npos ? s.size() : s.find('\0'));
      out += '\0';
    }
  }
  return out;
}

// Nothing if `bytes` is not exactly one encoded CommandLine.
inline std::optional<CommandLine> decode_command_line(std::string_view bytes) {
  CommandLine line;
  auto next = [&bytes](std::string& out) {
    auto nul = bytes.find('\0');
    if (nul == std::string_view::npos) return false;
    out.assign(bytes.substr(0, nul));
    bytes.remove_prefix(nul + 1);
    return true;
  };
  for (auto* list : {&line.arguments, &line.environment}) {
    std::string count_text;
    if (!next(count_text) || count_text.empty() || count_text.size() > 6) return std::nullopt;
    std::size_t count = 0;
    for (char c : count_text) {
      if (c < '0' || c > '9') return std::nullopt;
      count = count * 10 + static_cast<std::size_t>(c - '0');
    }
    if (count > bytes.size()) return std::nullopt;  // each string takes at least its NUL
    list->resize(count);
    for (auto& s : *list) {
      if (!next(s)) return std::nullopt;
    }
  }
  if (!bytes.empty()) return std::nullopt;
  return line;
}

}  // namespace wsgi_fpm
