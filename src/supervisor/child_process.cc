#include "supervisor/child_process.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "supervisor/child_reaper.h"

namespace wsgi_fpm::supervisor {
namespace {
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
}  // namespace

bool SpawnedChild::start(uv_loop_t* loop, const HandleCount* count, const Start& s, ExitFn on_exit,
                         std::string& error) {
  std::vector<std::string> args = s.arguments, env_strings = s.environment;
  std::vector<char*> argv{const_cast<char*>(s.executable.c_str())};
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> env;
  for (auto& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);

  uv_process_options_t options{};
  options.file = s.executable.c_str();
  options.args = argv.data();
  options.env = env.data();
  options.stdio = s.stdio;
  options.stdio_count = s.stdio_count;
  int rc = process_.spawn(loop, options, count, [this, on_exit = std::move(on_exit)](std::int64_t status, int sig) {
    exited_ = true;
    untrack_child(pid_);
    process_.close();
    on_exit(status, sig);
  });
  if (rc != 0) {
    error = "cannot start " + s.executable + ": " + uv_strerror(rc);
    return false;
  }
  pid_ = process_.pid();
  track_child(pid_);
  return true;
}

void SpawnedChild::signal(int signum) {
  if (!exited_) process_.kill(signum);
}

ForkedChild::~ForkedChild() {
  if (pid_ && !exited_) untrack_child(pid_);
}

void ForkedChild::adopt(uv_loop_t* loop, const HandleCount* count, long pid) {
  pid_ = pid;
  track_child(pid_);
  pidfd_.reset(static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0)));
  // Only an already reaped process has no pidfd, and we are its reaper.
  int rc = pidfd_ ? pidfd_poll_.open(loop, pidfd_.get(), count) : UV_ESRCH;
  if (rc == 0) rc = pidfd_poll_.start(UV_READABLE, [this](int, int) { on_pidfd_readable(); });
  if (rc != 0) return exited(127, 0);
  if (pending_signal_) signal(std::exchange(pending_signal_, 0));
}

void ForkedChild::fail() { exited(127, 0); }

void ForkedChild::signal(int signum) {
  if (exited_) return;
  if (!pid_) {
    if (pending_signal_ != SIGKILL) pending_signal_ = signum;
    return;
  }
  syscall(SYS_pidfd_send_signal, pidfd_.get(), signum, nullptr, 0);
}

void ForkedChild::on_pidfd_readable() {
  siginfo_t info{};
  if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED | WNOHANG) != 0) {
    // ECHILD: it exited before the middle process did, so it is not our
    // child yet; it will be in a moment (the poll fires again). Unless it is
    // gone for good, which only a reaper could have done.
    if (errno == ECHILD && kill(static_cast<pid_t>(pid_), 0) != 0) exited(127, 0);
    return;
  }
  if (info.si_pid == 0) return;  // not yet
  std::int64_t status = info.si_code == CLD_EXITED ? info.si_status : 0;
  int sig = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED ? info.si_status : 0;
  exited(status, sig);
}

void ForkedChild::exited(std::int64_t status, int sig) {
  if (exited_) return;
  exited_ = true;
  if (pid_) untrack_child(pid_);
  pidfd_poll_.close();  // (closing the pidfd after: the poll stops at once)
  pidfd_.reset();
  on_exit_(status, sig);
}

}  // namespace wsgi_fpm::supervisor
