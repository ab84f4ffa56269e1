#include "supervisor/worker_process.h"

#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "fmt/format.h"
#include "util/fd.h"
#include "util/fd_passing.h"
#include "wsgi_fpm/fork_request.h"
#include "wsgi_fpm/notify.h"
#include "wsgi_fpm/worker_exit.h"

namespace wsgi_fpm::supervisor {

// A pipe from the worker, split into lines.
struct WorkerProcess::Pipe {
  uv_pipe_t handle;
  std::string partial;
  std::function<void(std::string_view)> on_line;

  void feed(const char* data, std::size_t n) {
    partial.append(data, n);
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1)
      on_line(std::string_view(partial).substr(start, nl - start));
    partial.erase(0, start);
    if (partial.size() > 65536) {  // a runaway line: flush it as is
      on_line(partial);
      partial.clear();
    }
  }
  void finish() {
    if (!partial.empty()) on_line(partial);
    partial.clear();
  }
};

namespace {

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

void on_alloc(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
  buf->base = new char[suggested];
  buf->len = suggested;
}

// The resident set, as ps shows it (shared pages included: a worker forked
// from a preload-fork template counts the template's pages it maps); 0 when
// the process is gone or not yet known.
std::uint64_t resident_bytes(long pid) {
  if (pid <= 0) return 0;
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  std::uint64_t size_pages = 0, rss_pages = 0;
  if (!(statm >> size_pages >> rss_pages)) return 0;
  return rss_pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

std::uint64_t next_serial = 1;
// The pids of our children that a WorkerProcess will reap (through libuv or
// its pidfd): reap_unknown_children() leaves them alone.
std::set<long> known_children;

}  // namespace

WorkerProcess::WorkerProcess(uv_loop_t* loop, std::size_t slot, Events events)
    : loop_(loop), slot_(slot), events_(std::move(events)), serial_(next_serial++) {}

WorkerProcess::~WorkerProcess() {
  fail_pending_forks("the template is gone");
  if (board_) munmap(board_, sizeof(Scoreboard));
}

bool WorkerProcess::make_scoreboard(UniqueFd& board_fd, std::string& error) {
  // The scoreboard: shared memory the worker writes and we read.
  board_fd.reset(memfd_create("wsgi-fpm-scoreboard", MFD_CLOEXEC));
  if (!board_fd || ftruncate(board_fd.get(), sizeof(Scoreboard)) != 0) {
    error = std::string("scoreboard: ") + std::strerror(errno);
    return false;
  }
  void* p = mmap(nullptr, sizeof(Scoreboard), PROT_READ | PROT_WRITE, MAP_SHARED, board_fd.get(), 0);
  if (p == MAP_FAILED) {
    error = std::string("scoreboard mmap: ") + std::strerror(errno);
    return false;
  }
  board_ = static_cast<Scoreboard*>(p);
  return true;
}

bool WorkerProcess::spawn(const SpawnOptions& o, std::string& error) {
  pool_name_ = o.pool_name;
  log_ = o.log;
  zygote_ = o.zygote;
  UniqueFd board_fd;
  if (!make_scoreboard(board_fd, error)) return false;
  UniqueFd template_end, handoff_end;
  if (!o.fork_template && !make_handoff_socket(handoff_end, error)) return false;
  if (o.fork_template) {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
      error = std::string("fork-request socket: ") + std::strerror(errno);
      return false;
    }
    command_fd_.reset(pair[0]);
    template_end.reset(pair[1]);
  }

  stdout_ = std::make_unique<Pipe>();
  stderr_ = std::make_unique<Pipe>();
  notify_ = std::make_unique<Pipe>();
  for (Pipe* pipe : {stdout_.get(), stderr_.get(), notify_.get()}) {
    uv_pipe_init(loop_, &pipe->handle, 0);
    pipe->handle.data = this;
    open_handles_++;
  }

  uv_stdio_container_t stdio[8];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&stdout_->handle);
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&stderr_->handle);
  stdio[kListenFd].flags = o.listen_fd >= 0 ? UV_INHERIT_FD : UV_IGNORE;
  stdio[kListenFd].data.fd = o.listen_fd;
  stdio[kScoreboardFd].flags = UV_INHERIT_FD;
  stdio[kScoreboardFd].data.fd = board_fd.get();
  stdio[kNotifyFd].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[kNotifyFd].data.stream = reinterpret_cast<uv_stream_t*>(&notify_->handle);
  // A template gets the fork-request socket (and no handoff socket: it
  // serves no connection); a worker gets the handoff socket.
  if (o.fork_template) {
    stdio[kForkCommandFd].flags = UV_INHERIT_FD;
    stdio[kForkCommandFd].data.fd = template_end.get();
  } else {
    stdio[kForkCommandFd].flags = UV_IGNORE;
    stdio[kHandoffFd].flags = UV_INHERIT_FD;
    stdio[kHandoffFd].data.fd = handoff_end.get();
  }

  std::vector<char*> argv{const_cast<char*>(o.executable.c_str())};
  std::vector<std::string> args = o.arguments;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings = o.environment;
  std::vector<char*> env;
  for (auto& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);

  uv_process_options_t options{};
  options.file = o.executable.c_str();
  options.args = argv.data();
  options.env = env.data();
  options.stdio = stdio;
  options.stdio_count = o.fork_template ? kForkCommandFd + 1 : kHandoffFd + 1;
  options.exit_cb = [](uv_process_t* h, int64_t status, int sig) {
    auto* self = static_cast<WorkerProcess*>(h->data);
    self->handle_exit(status, sig);
    uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* raw) {
      auto* me = static_cast<WorkerProcess*>(raw->data);
      delete reinterpret_cast<uv_process_t*>(raw);
      me->process_ = nullptr;
      me->handle_closed();
    });
  };
  process_ = new uv_process_t;
  process_->data = this;
  open_handles_++;
  started_ = std::chrono::steady_clock::now();
  int rc = uv_spawn(loop_, process_, &options);
  if (rc != 0) {
    error = "cannot start " + o.executable + ": " + uv_strerror(rc);
    state_ = State::Exited;
    command_fd_.reset();
    handoff_fd_.reset();
    // libuv closed nothing: close our handles so the object can go away.
    uv_close(reinterpret_cast<uv_handle_t*>(process_), [](uv_handle_t* raw) {
      auto* me = static_cast<WorkerProcess*>(raw->data);
      delete reinterpret_cast<uv_process_t*>(raw);
      me->process_ = nullptr;
      me->handle_closed();
    });
    for (Pipe* pipe : {stdout_.get(), stderr_.get(), notify_.get()}) {
      uv_close(reinterpret_cast<uv_handle_t*>(&pipe->handle), [](uv_handle_t* raw) {
        static_cast<WorkerProcess*>(raw->data)->handle_closed();
      });
    }
    return false;
  }
  pid_ = process_->pid;
  known_children.insert(pid_);
  if (command_fd_) {
    command_poll_ = new uv_poll_t;
    uv_poll_init(loop_, command_poll_, command_fd_.get());
    command_poll_->data = this;
    open_handles_++;
    uv_poll_start(command_poll_, UV_READABLE,
                  [](uv_poll_t* p, int, int) { static_cast<WorkerProcess*>(p->data)->on_fork_replies(); });
  }
  watch_handoff_socket();
  start_reading();
  return true;
}

bool WorkerProcess::make_handoff_socket(UniqueFd& theirs, std::string& error) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    error = std::string("handoff socket: ") + std::strerror(errno);
    return false;
  }
  handoff_fd_.reset(pair[0]);
  theirs.reset(pair[1]);
  return true;
}

void WorkerProcess::watch_handoff_socket() {
  if (!handoff_fd_) return;
  handoff_poll_ = new uv_poll_t;
  uv_poll_init(loop_, handoff_poll_, handoff_fd_.get());
  handoff_poll_->data = this;
  open_handles_++;
  uv_poll_start(handoff_poll_, UV_READABLE,
                [](uv_poll_t* p, int, int) { static_cast<WorkerProcess*>(p->data)->on_handoff_readable(); });
}

void WorkerProcess::on_handoff_readable() {
  if (!handoff_fd_) return;
  // Bounded: each record holds at least one connection of the worker's.
  for (int i = 0; i < 4096; ++i) {
    HandoffRecord record{};
    std::vector<UniqueFd> connections;
    ssize_t n = receive_fds(handoff_fd_.get(), &record, sizeof record, connections, kHandoffMaxFds);
    if (!connections.empty() && events_.handed_over) events_.handed_over(*this, std::move(connections));
    if (n > 0 || (n < 0 && errno == EMSGSIZE)) continue;
    if (n == 0 && handoff_poll_) uv_poll_stop(handoff_poll_);  // the worker is gone: nothing more comes
    return;
  }
}

bool WorkerProcess::adopt_connections(const std::vector<UniqueFd>& connections) {
  if (state_ != State::Ready || !handoff_fd_ || connections.empty()) return false;
  std::vector<int> fds;
  for (const auto& c : connections) fds.push_back(c.get());
  HandoffRecord record{static_cast<std::uint32_t>(fds.size())};
  return send_fds(handoff_fd_.get(), &record, sizeof record, fds.data(), fds.size());
}

void WorkerProcess::close_handoff_socket() {
  if (!handoff_poll_) {
    handoff_fd_.reset();
    return;
  }
  // What the worker sent before it went is still queued on our end: pass
  // it on before the socket closes.
  on_handoff_readable();
  uv_close(reinterpret_cast<uv_handle_t*>(handoff_poll_), [](uv_handle_t* raw) {
    auto* me = static_cast<WorkerProcess*>(raw->data);
    delete reinterpret_cast<uv_poll_t*>(raw);
    me->handoff_fd_.reset();
    me->handle_closed();
  });
  handoff_poll_ = nullptr;
}

bool WorkerProcess::fork_from(WorkerProcess& fork_template, const SpawnOptions& o, std::string& error) {
  pool_name_ = o.pool_name;
  log_ = o.log;
  forked_ = true;
  UniqueFd board_fd;
  if (!make_scoreboard(board_fd, error)) return false;
  // Our read ends, and the write ends the worker gets.
  UniqueFd ours[3], theirs[3], handoff_end;
  if (o.fork_template) {
    // A template forked by the zygote: its fork-request socket where a
    // worker's handoff socket goes.
    int pair[2];
    if (!fork_template.is_zygote() || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
      error = fork_template.is_zygote() ? std::string("fork-request socket: ") + std::strerror(errno)
                                        : "a template is forked by the zygote only";
      return false;
    }
    command_fd_.reset(pair[0]);
    handoff_end.reset(pair[1]);
  } else if (!make_handoff_socket(handoff_end, error)) {
    return false;
  }
  for (int i = 0; i < 3; ++i) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      error = std::string("pipe: ") + std::strerror(errno);
      return false;
    }
    ours[i].reset(p[0]);
    theirs[i].reset(p[1]);
  }
  ForkRequest request{serial_, o.fork_template ? kForkTemplate : 0};
  std::string message(reinterpret_cast<const char*>(&request), sizeof request);
  int fds[kZygoteRequestFds] = {theirs[0].get(), theirs[1].get(), board_fd.get(), theirs[2].get(),
                                handoff_end.get(), o.listen_fd};
  if (fork_template.is_zygote()) message += encode_command_line(CommandLine{o.arguments, o.environment});
  std::size_t fd_count = fork_template.is_zygote() ? kZygoteRequestFds : kForkRequestFds;
  if (!send_fds(fork_template.command_fd_.get(), message.data(), message.size(), fds, fd_count)) {
    error = std::string("cannot ask the template for a worker: ") + std::strerror(errno);
    handoff_fd_.reset();
    command_fd_.reset();
    return false;
  }
  if (command_fd_) {
    command_poll_ = new uv_poll_t;
    uv_poll_init(loop_, command_poll_, command_fd_.get());
    command_poll_->data = this;
    open_handles_++;
    uv_poll_start(command_poll_, UV_READABLE,
                  [](uv_poll_t* p, int, int) { static_cast<WorkerProcess*>(p->data)->on_fork_replies(); });
  }
  fork_template.pending_forks_[serial_] = this;
  awaiting_pid_ = true;
  open_handles_++;  // the process itself, until its exit is known

  stdout_ = std::make_unique<Pipe>();
  stderr_ = std::make_unique<Pipe>();
  notify_ = std::make_unique<Pipe>();
  Pipe* pipes[3] = {stdout_.get(), stderr_.get(), notify_.get()};
  for (int i = 0; i < 3; ++i) {
    uv_pipe_init(loop_, &pipes[i]->handle, 0);
    pipes[i]->handle.data = this;
    open_handles_++;
    uv_pipe_open(&pipes[i]->handle, ours[i].release());
  }
  started_ = std::chrono::steady_clock::now();
  watch_handoff_socket();
  start_reading();
  return true;
}

void WorkerProcess::start_reading() {
  stdout_->on_line = [this](std::string_view l) { on_line(false, l); };
  stderr_->on_line = [this](std::string_view l) { on_line(true, l); };
  notify_->on_line = [this](std::string_view l) { on_notify(l); };
  for (Pipe* pipe : {stdout_.get(), stderr_.get(), notify_.get()}) {
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&pipe->handle), on_alloc,
        [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
          auto* self = static_cast<WorkerProcess*>(stream->data);
          Pipe* pipe = self->stdout_.get();
          if (stream == reinterpret_cast<uv_stream_t*>(&self->stderr_->handle)) pipe = self->stderr_.get();
          if (stream == reinterpret_cast<uv_stream_t*>(&self->notify_->handle)) pipe = self->notify_.get();
          if (n > 0) pipe->feed(buf->base, static_cast<size_t>(n));
          delete[] buf->base;
          if (n < 0) {
            pipe->finish();
            uv_close(reinterpret_cast<uv_handle_t*>(stream), [](uv_handle_t* raw) {
              static_cast<WorkerProcess*>(raw->data)->handle_closed();
            });
          }
        });
  }
}

void WorkerProcess::drain_output() {
  for (Pipe* pipe : {stdout_.get(), stderr_.get(), notify_.get()}) {
    if (!pipe) continue;
    auto* handle = reinterpret_cast<uv_handle_t*>(&pipe->handle);
    if (uv_is_closing(handle)) continue;  // at its end already
    // What the worker wrote before it exited is in the pipe now: read it
    // (libuv keeps the descriptor non-blocking), then close our end. Waiting
    // for the end of the pipe instead would wait for every process that
    // inherited it: a program an app started in the background kept this
    // worker (and so a stop of the supervisor) open for as long as it ran.
    uv_os_fd_t fd;
    if (uv_fileno(handle, &fd) == 0) {
      char buffer[16384];
      for (int reads = 0; reads < 64; ++reads) {  // at most 1 MiB: a pipe holds 64 KiB
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        pipe->feed(buffer, static_cast<size_t>(n));
      }
    }
    pipe->finish();
    uv_read_stop(reinterpret_cast<uv_stream_t*>(&pipe->handle));
    uv_close(handle, [](uv_handle_t* raw) { static_cast<WorkerProcess*>(raw->data)->handle_closed(); });
  }
}

void WorkerProcess::handle_closed() {
  if (--open_handles_ == 0 && events_.closed) events_.closed(*this);
}

void WorkerProcess::on_line(bool from_stderr, std::string_view line) {
  if (!log_) return;
  // The worker's own log lines start with "[level] "; anything else is the
  // application printing.
  std::string_view level = from_stderr ? "error" : "info";
  if (line.starts_with("[")) {
    auto close = line.find("] ");
    if (close != std::string_view::npos && close < 10) {
      level = line.substr(1, close - 1);
      line.remove_prefix(close + 2);
    }
  }
  log_->write_line(level, pool_name_, pid_, line);
}

void WorkerProcess::on_notify(std::string_view line) {
  auto message = NotifyMessage::parse(line);
  if (!message) return;
  if (message->kind == NotifyMessage::Kind::Ready) {
    // A forked worker can say so before the template's answer with its pid
    // is read: it is ready once both have come.
    if (awaiting_pid_) {
      ready_before_pid_ = true;
      return;
    }
    if (state_ == State::Starting) {
      state_ = State::Ready;
      last_active_ = std::chrono::steady_clock::now();
      events_.ready(*this);
    }
  } else if (state_ == State::Ready) {
    events_.retire(*this, message->reason, message->kind == NotifyMessage::Kind::Evict);
  }
}

void WorkerProcess::signal(int signum) {
  if (state_ == State::Exited) return;
  if (process_) {
    uv_process_kill(process_, signum);
  } else if (awaiting_pid_) {
    if (pending_signal_ != SIGKILL) pending_signal_ = signum;
  } else if (pidfd_ >= 0) {
    syscall(SYS_pidfd_send_signal, pidfd_, signum, nullptr, 0);
  }
}

void WorkerProcess::handle_exit(int64_t status, int sig) {
  state_ = State::Exited;
  known_children.erase(pid_);
  if (board_) final_requests_ = board_->requests_served.load(std::memory_order_relaxed);
  if (kill_timer_) {
    uv_timer_stop(kill_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(kill_timer_), [](uv_handle_t* raw) {
      auto* me = static_cast<WorkerProcess*>(raw->data);
      delete reinterpret_cast<uv_timer_t*>(raw);
      me->handle_closed();
    });
    kill_timer_ = nullptr;
  }
  close_handoff_socket();
  drain_output();
  if (command_fd_) {
    fail_pending_forks("the template exited");
    if (command_poll_) {
      uv_close(reinterpret_cast<uv_handle_t*>(command_poll_), [](uv_handle_t* raw) {
        auto* me = static_cast<WorkerProcess*>(raw->data);
        delete reinterpret_cast<uv_poll_t*>(raw);
        me->command_fd_.reset();
        me->handle_closed();
      });
      command_poll_ = nullptr;
    }
  }
  events_.exited(*this, status, sig);
}

void WorkerProcess::on_fork_replies() {
  while (true) {
    ForkReply reply{};
    ssize_t n = recv(command_fd_.get(), &reply, sizeof reply, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n != static_cast<ssize_t>(sizeof reply)) {
      // The template is gone (or broken): its exit is reported by libuv.
      uv_poll_stop(command_poll_);
      fail_pending_forks(n == 0 ? "the template closed its socket" : "the template answered nonsense");
      return;
    }
    auto it = pending_forks_.find(reply.id);
    if (it == pending_forks_.end()) continue;
    WorkerProcess* worker = it->second;
    pending_forks_.erase(it);
    if (reply.pid > 0)
      worker->adopt(static_cast<long>(reply.pid));
    else
      worker->fork_failed(std::string("the template could not fork: ") + std::strerror(static_cast<int>(-reply.pid)));
  }
}

void WorkerProcess::fail_pending_forks(const std::string& why) {
  auto pending = std::move(pending_forks_);
  pending_forks_.clear();
  for (auto& [id, worker] : pending) worker->fork_failed(why);
}

void WorkerProcess::adopt(long pid) {
  awaiting_pid_ = false;
  pid_ = pid;
  known_children.insert(pid_);
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
  if (pidfd_ < 0) {
    // Only an already reaped process has no pidfd, and we are its reaper.
    if (log_) log_->write_line("error", pool_name_, pid_, std::string("pidfd_open: ") + std::strerror(errno));
    handle_exit(127, 0);
    handle_closed();
    return;
  }
  pidfd_poll_ = new uv_poll_t;
  uv_poll_init(loop_, pidfd_poll_, pidfd_);
  pidfd_poll_->data = this;
  uv_poll_start(pidfd_poll_, UV_READABLE,
                [](uv_poll_t* p, int, int) { static_cast<WorkerProcess*>(p->data)->on_pidfd_readable(); });
  if (pending_signal_) {
    signal(pending_signal_);
    pending_signal_ = 0;
  }
  if (ready_before_pid_) on_notify("ready");
}

void WorkerProcess::fork_failed(const std::string& why) {
  awaiting_pid_ = false;
  if (log_) log_->write_line("error", pool_name_, 0, "no worker: " + why);
  handle_exit(127, 0);
  handle_closed();  // the process's own count: there is none
}

void WorkerProcess::on_pidfd_readable() {
  siginfo_t info{};
  if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_), &info, WEXITED | WNOHANG) != 0) {
    // ECHILD: it exited before the middle process did, so it is not our
    // child yet; it will be in a moment (the poll fires again). Unless it is
    // gone for good, which only a reaper could have done.
    if (errno == ECHILD && kill(static_cast<pid_t>(pid_), 0) != 0) {
      handle_exit(127, 0);
      close_pidfd();
    }
    return;
  }
  if (info.si_pid == 0) return;  // not yet
  int64_t status = info.si_code == CLD_EXITED ? info.si_status : 0;
  int sig = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED ? info.si_status : 0;
  handle_exit(status, sig);
  close_pidfd();
}

void WorkerProcess::close_pidfd() {
  uv_close(reinterpret_cast<uv_handle_t*>(pidfd_poll_), [](uv_handle_t* raw) {
    auto* me = static_cast<WorkerProcess*>(raw->data);
    delete reinterpret_cast<uv_poll_t*>(raw);
    close(me->pidfd_);
    me->pidfd_ = -1;
    me->handle_closed();
  });
  pidfd_poll_ = nullptr;
}

std::string exited_with(int64_t status) {
  const char* meaning = worker_exit::describe(status);
  if (status == worker_exit::kStopped || !*meaning) return fmt::format("exited with status {}", status);
  return fmt::format("exited with status {} ({})", status, meaning);
}

namespace {
bool subreaper = false;
}  // namespace

bool become_child_subreaper(std::string& error) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    error = std::string("prctl(PR_SET_CHILD_SUBREAPER): ") + std::strerror(errno);
    return false;
  }
  subreaper = true;
  return true;
}

bool is_child_subreaper() { return subreaper; }

namespace {

// Our children: from /proc/self/task/PID/children where the kernel has it
// (CONFIG_PROC_CHILDREN; the supervisor's one thread adopts the orphans),
// else every process of the host, whose parent is read below.
std::vector<long> candidate_children() {
  std::vector<long> out;
  long self = getpid();
  std::ifstream children("/proc/self/task/" + std::to_string(self) + "/children");
  if (children) {
    for (long pid; children >> pid;) out.push_back(pid);
    return out;
  }
  DIR* proc = opendir("/proc");
  if (!proc) return out;
  while (dirent* e = readdir(proc)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (!*end && pid > 0) out.push_back(pid);
  }
  closedir(proc);
  return out;
}

// A process's state letter and parent, from /proc/PID/stat; false if it is
// gone. (The name field may hold ") ", so the last ')' ends it.)
bool state_and_parent(long pid, char& state, long& parent) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 4 >= line.size()) return false;
  state = line[close + 2];
  parent = std::strtol(line.c_str() + close + 4, nullptr, 10);
  return true;
}

}  // namespace

bool reap_unknown_children() {
  // Every preload-fork pool's tick asks; once a second is enough for all
  // (1,000 pools each scanning /proc took a whole core).
  static std::set<long> suspects;  // unknown zombies seen by the last look
  static auto last = std::chrono::steady_clock::time_point();
  auto now = std::chrono::steady_clock::now();
  if (now - last < std::chrono::milliseconds(900)) return !suspects.empty();
  last = now;
  std::set<long> seen;
  long self = getpid();
  for (long pid : candidate_children()) {
    if (known_children.count(pid)) continue;
    char state;
    long parent;
    if (!state_and_parent(pid, state, parent) || parent != self || state != 'Z') continue;
    // Seen twice: not a forked worker whose pid is still on its way to us.
    if (suspects.count(pid))
      waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG);
    else
      seen.insert(pid);
  }
  suspects = std::move(seen);
  return !suspects.empty();
}

void reap_remaining_children(std::chrono::milliseconds patience) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  bool killed = false;
  while (true) {
    pid_t pid = waitpid(-1, nullptr, WNOHANG);
    if (pid > 0) continue;
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) return;  // ECHILD: none left
    if (std::chrono::steady_clock::now() > deadline) {
      if (killed) return;
      long self = getpid();
      for (long child : candidate_children()) {
        char state;
        long parent;
        if (state_and_parent(child, state, parent) && parent == self) kill(static_cast<pid_t>(child), SIGKILL);
      }
      killed = true;
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void WorkerProcess::stop(std::chrono::milliseconds kill_after, int signum) {
  if (state_ == State::Exited || state_ == State::Stopping) return;
  state_ = State::Stopping;
  signal(signum);
  if (!kill_timer_) {
    kill_timer_ = new uv_timer_t;
    uv_timer_init(loop_, kill_timer_);
    kill_timer_->data = this;
    open_handles_++;
  }
  uv_timer_start(kill_timer_, [](uv_timer_t* t) {
    auto* self = static_cast<WorkerProcess*>(t->data);
    if (self->state_ != State::Exited) {
      if (self->log_)
        self->log_->write_line("warning", self->pool_name_, self->pid_,
                               "did not stop in time; killing it");
      self->signal(SIGKILL);
    }
  }, static_cast<uint64_t>(kill_after.count()), 0);
}

std::uint64_t WorkerProcess::requests_served() const {
  if (state_ == State::Exited) return final_requests_;
  return board_ ? board_->requests_served.load(std::memory_order_relaxed) : 0;
}

void WorkerProcess::observe(std::chrono::steady_clock::time_point now, bool measure_rss) {
  std::uint64_t served = requests_served();
  unsigned busy = board_ ? board_->busy_threads.load(std::memory_order_relaxed) : 0;
  if (busy > 0 || served != observed_requests_) last_active_ = now;
  observed_requests_ = served;
  if (measure_rss) observed_rss_ = resident_bytes(pid_);
}

ProcessView WorkerProcess::view(std::chrono::steady_clock::time_point now) const {
  ProcessView v;
  v.pid = pid_;
  v.ready = state_ == State::Ready;
  v.busy_threads = board_ ? board_->busy_threads.load(std::memory_order_relaxed) : 0;
  v.served_any = observed_requests_ > 0;
  v.rss_bytes = observed_rss_;
  if (v.ready && v.busy_threads == 0) v.idle_for = now - last_active_;
  std::uint64_t beat = board_ ? board_->gil_heartbeat_us.load(std::memory_order_relaxed) : 0;
  std::uint64_t mono = monotonic_us();
  if (beat && mono > beat) v.gil_stalled = std::chrono::microseconds(mono - beat);
  return v;
}

ProcessStatus WorkerProcess::status() const {
  ProcessStatus s;
  s.pid = pid_;
  switch (state_) {
    case State::Starting: s.state = "starting"; break;
    case State::Ready: s.state = "ready"; break;
    case State::Stopping: s.state = "stopping"; break;
    case State::Exited: s.state = "exited"; break;
  }
  s.age_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  s.requests = requests_served();
  if (board_ && board_->magic == kScoreboardMagic) {
    s.busy_threads = board_->busy_threads.load(std::memory_order_relaxed);
    std::uint64_t now = wall_clock_us();
    for (std::uint32_t i = 0; i < board_->thread_count && i < kScoreboardThreads; ++i) {
      const ThreadSlot& t = board_->threads[i];
      for (int attempt = 0; attempt < 3; ++attempt) {
        std::uint32_t before = t.generation.load(std::memory_order_acquire);
        std::uint64_t start = t.request_start_us.load(std::memory_order_relaxed);
        if (start == 0) break;
        if (before & 1) continue;  // being written right now
        std::string url(t.url, std::min<std::size_t>(t.url_length, kScoreboardUrlBytes));
        if (t.generation.load(std::memory_order_acquire) != before) continue;
        s.in_flight.push_back({url, start < now ? static_cast<double>(now - start) / 1e6 : 0.0});
        break;
      }
    }
  }
  s.rss_bytes = resident_bytes(pid_);
  return s;
}

}  // namespace wsgi_fpm::supervisor
