// Fork requests: how the supervisor asks a preload-fork template, or the
// shared zygote, for a new process (on kForkCommandFd, descriptors.h).
//
// A request is a ForkRequest sent with SCM_RIGHTS carrying the new worker's
// stdout, stderr, scoreboard, notify and handoff descriptors, in that order;
// the reply is a ForkReply: the worker's pid, or -errno if it could not be
// made. The shared zygote (`--zygote`, supervisor/zygote.h) takes the same
// requests with the new worker's listening socket as a sixth descriptor, and
// after the ForkRequest the worker's command line and environment (below).
// It forks preload-fork templates too (kForkTemplate).
//
// The command line is a pure codec, so that both sides and the unit tests
// agree on it byte for byte. Layout: a decimal count, NUL, that many NUL-terminated strings, for the
// arguments and then for the environment. Neither can hold a NUL (they are
// C strings at the other end), so nothing needs escaping.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wsgi_fpm {

struct ForkRequest {
  std::uint64_t id;
  std::uint64_t flags;
};
// To the zygote: the new process is a pool's template, and the fifth
// descriptor is its own fork-request socket (kForkCommandFd), not a handoff
// socket.
inline constexpr std::uint64_t kForkTemplate = 1;
struct ForkReply {
  std::uint64_t id;
  std::int64_t pid;
};
inline constexpr int kForkRequestFds = 5;
inline constexpr int kZygoteRequestFds = 6;

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
