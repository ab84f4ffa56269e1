// The operating system's process behind a WorkerProcess, as the supervisor
// knows it: how it is signalled and how its exit is seen. Two kinds:
//   SpawnedChild: started with uv_spawn; libuv reaps it.
//   ForkedChild:  forked by a template or the zygote (fork_channel.h); its
//                 pid comes in the reply, and it is reaped through a pidfd
//                 (it becomes our child as the subreaper, child_reaper.h,
//                 but libuv does not know it).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "supervisor/uv_handle.h"
#include "util/fd.h"

namespace wsgi_fpm::supervisor {

class ChildProcess {
 public:
  // `status` as exit(2) gave it, or `signal` if one killed the process.
  using ExitFn = std::function<void(std::int64_t status, int signal)>;
  virtual ~ChildProcess() = default;
  // 0 until known (a fork not answered yet).
  virtual long pid() const = 0;
  virtual void signal(int signum) = 0;
};

class SpawnedChild : public ChildProcess {
 public:
  struct Start {
    std::string executable;
    std::vector<std::string> arguments;
    std::vector<std::string> environment;  // NAME=value: the whole of it
    uv_stdio_container_t* stdio = nullptr;
    int stdio_count = 0;
  };
  // False with `error` (then there is no process and no exit to come).
  bool start(uv_loop_t* loop, const HandleCount* count, const Start& start, ExitFn on_exit, std::string& error);
  long pid() const override { return pid_; }
  void signal(int signum) override;

 private:
  Process process_;
  long pid_ = 0;
  bool exited_ = false;
};

class ForkedChild : public ChildProcess {
 public:
  explicit ForkedChild(ExitFn on_exit) : on_exit_(std::move(on_exit)) {}
  ~ForkedChild() override;
  // The template answered: the process is `pid`. Its exit is reported once
  // it comes (at once, 127, if it is already gone).
  void adopt(uv_loop_t* loop, const HandleCount* count, long pid);
  // The template could not make it: reported as an exit with status 127.
  void fail();
  long pid() const override { return pid_; }
  // Before the pid is known, the last signal waits for it (SIGKILL wins).
  void signal(int signum) override;

 private:
  void on_pidfd_readable();
  void exited(std::int64_t status, int signal);
  ExitFn on_exit_;
  long pid_ = 0;
  bool exited_ = false;
  int pending_signal_ = 0;
  UniqueFd pidfd_;
  Poll pidfd_poll_;
};

}  // namespace wsgi_fpm::supervisor
