#include "supervisor/worker_output.h"

#include <unistd.h>

#include <cerrno>

namespace wsgi_fpm::supervisor {
namespace {
// A line longer than this is passed on in pieces (a runaway print).
constexpr std::size_t kMaxLineBytes = 65536;
}  // namespace

bool WorkerOutput::open(uv_loop_t* loop, const HandleCount* count, const std::array<int, 3>& fds,
                        std::string& error) {
  for (std::size_t i = 0; i < pipes_.size(); ++i) {
    if (int rc = pipes_[i].handle.open(loop, count, fds[i]); rc != 0) {
      error = std::string("pipe: ") + uv_strerror(rc);
      for (std::size_t j = i; j < fds.size(); ++j) {
        if (fds[j] >= 0) ::close(fds[j]);  // not taken
      }
      close();
      return false;
    }
  }
  return true;
}

bool WorkerOutput::start(LineFn fn, std::string& error) {
  on_line_ = std::move(fn);
  for (int i = 0; i < 3; ++i) {
    auto which = static_cast<Stream>(i);
    int rc = pipes_[i].handle.start([this, which](const char* data, ssize_t n) {
      if (n > 0) return feed(which, data, static_cast<std::size_t>(n));
      finish(which);
      pipes_[which].handle.close();
    });
    if (rc != 0) {
      error = std::string("cannot read the worker's output: ") + uv_strerror(rc);
      return false;
    }
  }
  return true;
}

void WorkerOutput::feed(Stream which, const char* data, std::size_t n) {
  std::string& partial = pipes_[which].partial;
  partial.append(data, n);
  std::size_t start = 0;
  for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1)
    on_line_(which, std::string_view(partial).substr(start, nl - start));
  partial.erase(0, start);
  if (partial.size() > kMaxLineBytes) finish(which);
}

void WorkerOutput::finish(Stream which) {
  std::string& partial = pipes_[which].partial;
  if (!partial.empty() && on_line_) on_line_(which, partial);
  partial.clear();
}

void WorkerOutput::drain() {
  for (int i = 0; i < 3; ++i) {
    auto which = static_cast<Stream>(i);
    ReadPipe& pipe = pipes_[i].handle;
    if (!pipe) continue;  // at its end already
    // libuv keeps the descriptor non-blocking.
    if (int fd = pipe.fd(); fd >= 0 && on_line_) {
      char buffer[16384];
      for (int reads = 0; reads < 64; ++reads) {  // at most 1 MiB: a pipe holds 64 KiB
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        feed(which, buffer, static_cast<std::size_t>(n));
      }
    }
    finish(which);
    pipe.close();
  }
}

void WorkerOutput::close() {
  for (Pipe& pipe : pipes_) pipe.handle.close();
}

}  // namespace wsgi_fpm::supervisor
