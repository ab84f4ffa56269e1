#include "supervisor/log_sink.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "util/log.h"

namespace wsgi_fpm::supervisor {

std::shared_ptr<LogSink> LogSink::open(const std::string& where, std::string& error) {
  if (where == "stderr" || where.empty()) return std::shared_ptr<LogSink>(new LogSink("stderr", 2));
  int fd = ::open(where.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    error = "open " + where + ": " + std::strerror(errno);
    return nullptr;
  }
  return std::shared_ptr<LogSink>(new LogSink(where, fd));
}

LogSink::~LogSink() {
  if (fd_ > 2) ::close(fd_);
}

void LogSink::reopen() {
  if (where_ == "stderr") return;
  int fd = ::open(where_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return;  // keep writing to the old file rather than lose lines
  ::dup2(fd, fd_);
  ::close(fd);
}

void LogSink::write_line(std::string_view level, std::string_view source, long pid, std::string_view text) {
  std::string line = log::line_prefix(level, source, pid);
  line.append(text);
  line.push_back('\n');
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
}

}  // namespace wsgi_fpm::supervisor
