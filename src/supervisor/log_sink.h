// Where log lines end up: the supervisor's log, or a pool's error-log file.
// Only the supervisor writes these files; workers reach them through pipes
// the supervisor reads, so a tenant can neither forge nor erase its log.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace wsgi_fpm::supervisor {

class LogSink {
 public:
  // "stderr" or an absolute path (opened for append, created 0640).
  static std::shared_ptr<LogSink> open(const std::string& where, std::string& error);
  ~LogSink();

  // One complete line with the standard prefix: time [level] source[pid]: text
  void write_line(std::string_view level, std::string_view source, long pid, std::string_view text);
  // SIGUSR1: reopen the file (after logrotate moved it).
  void reopen();
  int fd() const { return fd_; }
  const std::string& where() const { return where_; }

 private:
  LogSink(std::string where, int fd) : where_(std::move(where)), fd_(fd) {}
  std::string where_;
  int fd_;
};

}  // namespace wsgi_fpm::supervisor
