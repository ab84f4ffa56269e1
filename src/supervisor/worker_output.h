// What a worker process says on its three pipes, as lines: stdout and
// stderr (its log lines and whatever the application prints) and the notify
// pipe (wsgi_fpm/notify.h). Spawned, the pipes are made for uv_spawn to
// connect; forked, they are read ends we made and sent to the template.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <string_view>

#include "supervisor/uv_handle.h"

namespace wsgi_fpm::supervisor {

class WorkerOutput {
 public:
  enum Stream { Stdout, Stderr, Notify };
  using LineFn = std::function<void(Stream, std::string_view line)>;

  // Makes the pipes: for uv_spawn (no `fds`: stream() for its stdio), or
  // on `fds`, the read ends of pipes of ours (taken in any case). False with
  // `error`.
  bool open(uv_loop_t* loop, const HandleCount* count, std::string& error) {
    return open(loop, count, {-1, -1, -1}, error);
  }
  bool open(uv_loop_t* loop, const HandleCount* count, const std::array<int, 3>& fds, std::string& error);
  uv_stream_t* stream(Stream which) const { return pipes_[which].handle.stream(); }
  // Reads each pipe until its end, then closes it; `fn` for each line.
  // False with `error` if a pipe cannot be read.
  bool start(LineFn fn, std::string& error);
  // The process exited: what its pipes hold now is all that comes from it,
  // read at once, and the pipes are closed. (Waiting for each pipe's end
  // instead would wait for every process that inherited it: a program an
  // app started in the background kept the worker, and so a stop of the
  // supervisor, open for as long as it ran.)
  void drain();
  void close();

 private:
  struct Pipe {
    ReadPipe handle;
    std::string partial;  // the last line, until its newline comes
  };
  // Splits `data` into lines for on_line_.
  void feed(Stream which, const char* data, std::size_t n);
  void finish(Stream which);
  std::array<Pipe, 3> pipes_;
  LineFn on_line_;
};

}  // namespace wsgi_fpm::supervisor
