#include "util/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <ctime>
#include <mutex>

namespace wsgi_fpm::log {
namespace {

std::atomic<int> g_fd{2};
std::atomic<Level> g_min{Level::Info};
std::atomic<bool> g_bare{false};
std::mutex g_source_mutex;
std::string g_source = "wsgi-fpm";

const char* level_name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Warning: return "warning";
    case Level::Error: return "error";
  }
  return "?";
}

std::string prefix(Level level) {
  if (g_bare.load()) return fmt::format("[{}] ", level_name(level));
  std::lock_guard lock(g_source_mutex);
  return line_prefix(level_name(level), g_source, getpid());
}

void write_all(std::string_view s) {
  int fd = g_fd.load();
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a failing log
    }
    s.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace

std::string line_prefix(std::string_view level, std::string_view source, long pid) {
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm parts;
  localtime_r(&tv.tv_sec, &parts);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &parts);
  return fmt::format("{}.{:03d} [{}] {}[{}]: ", stamp, static_cast<int>(tv.tv_usec / 1000), level, source, pid);
}

void set_source(std::string name) {
  std::lock_guard lock(g_source_mutex);
  g_source = std::move(name);
}
void set_fd(int fd) { g_fd = fd; }
void set_min_level(Level level) { g_min = level; }
void set_bare(bool bare) { g_bare = bare; }

void write(Level level, std::string_view message) {
  if (level < g_min.load()) return;
  std::string line = prefix(level);
  line.append(message);
  if (line.empty() || line.back() != '\n') line.push_back('\n');
  write_all(line);
}

void write_lines(Level level, std::string_view text) {
  if (level < g_min.load()) return;
  std::string head = prefix(level);
  std::string out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    out += head;
    out.append(line);
    out.push_back('\n');
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  write_all(out);
}

}  // namespace wsgi_fpm::log
