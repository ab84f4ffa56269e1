// The one log format of every wsgi-fpm process:
//   2026-11-23 18:40:02.123 [info] pool[pid]: message
// Writes go straight to a file descriptor (stderr by default) with one write()
// per line, so lines from threads and from worker processes sharing the
// supervisor's pipe never interleave.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

namespace wsgi_fpm::log {

enum class Level { Debug, Info, Warning, Error };

// Who is writing: a pool name ("wsgi-fpm" for the supervisor itself).
void set_source(std::string name);
void set_fd(int fd);
void set_min_level(Level level);
// Bare lines ("[level] message") for a worker whose stderr the supervisor
// reads: the supervisor adds the time, pool and pid itself.
void set_bare(bool bare);

void write(Level level, std::string_view message);

// The line prefix every log of wsgi-fpm uses: "2026-11-23 18:40:02.123 [info] source[pid]: ".
std::string line_prefix(std::string_view level, std::string_view source, long pid);

template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::Info, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warning(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::Warning, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::Error, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::Debug, fmt::format(f, std::forward<Args>(args)...));
}

// Writes `text` (which may hold many lines, e.g. a traceback) with the prefix
// on every line.
void write_lines(Level level, std::string_view text);

}  // namespace wsgi_fpm::log
