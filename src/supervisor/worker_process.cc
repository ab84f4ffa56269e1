#include "supervisor/worker_process.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "fmt/format.h"
#include "util/fd_passing.h"
#include "wsgi_fpm/descriptors.h"
#include "wsgi_fpm/fork_request.h"
#include "wsgi_fpm/notify.h"
#include "wsgi_fpm/worker_exit.h"

namespace wsgi_fpm::supervisor {
namespace {

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

bool socket_pair(UniqueFd& ours, UniqueFd& theirs, const char* what, std::string& error) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    error = fmt::format("{} socket: {}", what, std::strerror(errno));
    return false;
  }
  ours.reset(pair[0]);
  theirs.reset(pair[1]);
  return true;
}

std::uint64_t next_serial = 1;

}  // namespace

WorkerProcess::WorkerProcess(uv_loop_t* loop, std::size_t slot, Events events)
    : loop_(loop), slot_(slot), events_(std::move(events)), serial_(next_serial++) {
  handles_.on_all_closed([this] { on_handles_closed(); });
}

WorkerProcess::~WorkerProcess() = default;

bool WorkerProcess::prepare(const SpawnOptions& o, UniqueFd& board_fd, UniqueFd& theirs, std::string& error) {
  pool_name_ = o.pool_name;
  log_ = o.log;
  zygote_ = o.zygote;
  // The scoreboard: shared memory the worker writes and we read.
  board_fd.reset(memfd_create("wsgi-fpm-scoreboard", MFD_CLOEXEC));
  if (!board_fd || ftruncate(board_fd.get(), sizeof(Scoreboard)) != 0) {
    error = std::string("scoreboard: ") + std::strerror(errno);
    return false;
  }
  board_ = ScoreboardMapping(board_fd.get());
  if (!board_) {
    error = std::string("scoreboard mmap: ") + std::strerror(errno);
    return false;
  }
  // A template gets the fork-request socket (and no handoff socket: it
  // serves no connection); a worker gets the handoff socket.
  UniqueFd ours;
  if (!socket_pair(ours, theirs, o.fork_template ? "fork-request" : "handoff", error)) return false;
  if (o.fork_template) {
    forks_ = std::make_unique<ForkChannel>();
    if (!forks_->open(loop_, &handles_, std::move(ours), error)) return false;
  } else {
    if (int rc = handoff_poll_.open(loop_, ours.get(), &handles_); rc != 0) {
      error = std::string("cannot watch the handoff socket: ") + uv_strerror(rc);
      return false;
    }
    handoff_fd_ = std::move(ours);
  }
  started_ = std::chrono::steady_clock::now();
  return true;
}

bool WorkerProcess::spawn(const SpawnOptions& o, std::string& error) {
  UniqueFd board_fd, theirs;
  bool made = prepare(o, board_fd, theirs, error) && output_.open(loop_, &handles_, error);
  if (made) {
    uv_stdio_container_t stdio[8];
    auto pipe_to = [](uv_stream_t* stream) {
      uv_stdio_container_t c;
      c.flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
      c.data.stream = stream;
      return c;
    };
    auto inherit = [](int fd) {
      uv_stdio_container_t c;
      c.flags = fd >= 0 ? UV_INHERIT_FD : UV_IGNORE;
      c.data.fd = fd;
      return c;
    };
    stdio[0] = inherit(-1);
    stdio[1] = pipe_to(output_.stream(WorkerOutput::Stdout));
    stdio[2] = pipe_to(output_.stream(WorkerOutput::Stderr));
    stdio[kListenFd] = inherit(o.listen_fd);
    stdio[kScoreboardFd] = inherit(board_fd.get());
    stdio[kNotifyFd] = pipe_to(output_.stream(WorkerOutput::Notify));
    stdio[kForkCommandFd] = inherit(o.fork_template ? theirs.get() : -1);
    stdio[kHandoffFd] = inherit(o.fork_template ? -1 : theirs.get());
    auto child = std::make_unique<SpawnedChild>();
    made = child->start(loop_, &handles_,
                        {o.executable, o.arguments, o.environment, stdio, o.fork_template ? kForkCommandFd + 1 : kHandoffFd + 1},
                        [this](std::int64_t status, int sig) { handle_exit(status, sig); }, error);
    if (made) child_ = std::move(child);
  }
  return made ? begin_watching() : abandon_start();
}

bool WorkerProcess::begin_watching() {
  std::string error;
  if (!output_.start([this](WorkerOutput::Stream s, std::string_view line) { on_line(s, line); }, error)) {
    // Unread, its pipes would fill and block it, its "ready" never heard:
    // it goes now, and counts as a start that failed.
    if (log_) log_->write_line("error", pool_name_, pid(), error + "; killing it");
    signal(SIGKILL);
    return true;
  }
  if (handoff_poll_) {
    if (int rc = handoff_poll_.start(UV_READABLE, [this](int, int) { on_handoff_readable(); }); rc != 0) {
      // Its idle connections are closed at its stop instead of handed over.
      if (log_)
        log_->write_line("warning", pool_name_, pid(), std::string("cannot watch the handoff socket: ") + uv_strerror(rc));
      handoff_poll_.close();
      handoff_fd_.reset();
    }
  }
  return true;
}

bool WorkerProcess::abandon_start() {
  // Whatever was made closes; the object goes once it has (closing()).
  state_ = State::Exited;
  child_.reset();
  forked_ = nullptr;
  handoff_poll_.close();
  handoff_fd_.reset();
  if (forks_) forks_->close();
  output_.close();
  return false;
}

bool WorkerProcess::fork_from(WorkerProcess& fork_template, const SpawnOptions& o, std::string& error) {
  UniqueFd board_fd, theirs;
  // Our read ends, and the write ends the worker gets.
  UniqueFd ours[3], write_ends[3];
  bool made = true;
  if (o.fork_template && !fork_template.is_zygote()) {
    error = "a template is forked by the zygote only";
    made = false;
  }
  if (made && !fork_template.forks_) {
    error = "the template takes no fork requests";
    made = false;
  }
  made = made && prepare(o, board_fd, theirs, error);
  for (int i = 0; made && i < 3; ++i) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
      error = std::string("pipe: ") + std::strerror(errno);
      made = false;
      break;
    }
    ours[i].reset(p[0]);
    write_ends[i].reset(p[1]);
  }
  if (made) made = output_.open(loop_, &handles_, {ours[0].release(), ours[1].release(), ours[2].release()}, error);
  if (made) {
    auto child = std::make_unique<ForkedChild>([this](std::int64_t status, int sig) { handle_exit(status, sig); });
    forked_ = child.get();
    child_ = std::move(child);
    ForkRequest request{serial_, o.fork_template ? kForkTemplate : 0};
    std::string message(reinterpret_cast<const char*>(&request), sizeof request);
    // The fifth descriptor: a worker's handoff socket, or a template's own
    // fork-request socket.
    int fds[kZygoteRequestFds] = {write_ends[0].get(), write_ends[1].get(), board_fd.get(), write_ends[2].get(),
                                  theirs.get(), o.listen_fd};
    if (fork_template.is_zygote()) message += encode_command_line(CommandLine{o.arguments, o.environment});
    std::size_t fd_count = fork_template.is_zygote() ? kZygoteRequestFds : kForkRequestFds;
    made = fork_template.forks_->request(
        serial_, message, fds, fd_count,
        [this](long pid, const std::string& why) {
          if (pid > 0) {
            forked_->adopt(loop_, &handles_, pid);
            if (ready_before_pid_ && state_ == State::Starting) on_notify("ready");
          } else {
            if (log_) log_->write_line("error", pool_name_, 0, "no worker: " + why);
            forked_->fail();
          }
        },
        error);
  }
  return made ? begin_watching() : abandon_start();
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
    if (n == 0) handoff_poll_.stop();  // the worker is gone: nothing more comes
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

void WorkerProcess::on_line(WorkerOutput::Stream stream, std::string_view line) {
  if (stream == WorkerOutput::Notify) return on_notify(line);
  if (!log_) return;
  // The worker's own log lines start with "[level] "; anything else is the
  // application printing.
  std::string_view level = stream == WorkerOutput::Stderr ? "error" : "info";
  if (line.starts_with("[")) {
    auto close = line.find("] ");
    if (close != std::string_view::npos && close < 10) {
      level = line.substr(1, close - 1);
      line.remove_prefix(close + 2);
    }
  }
  log_->write_line(level, pool_name_, pid(), line);
}

void WorkerProcess::on_notify(std::string_view line) {
  auto message = NotifyMessage::parse(line);
  if (!message) return;
  if (message->kind == NotifyMessage::Kind::Ready) {
    // A forked worker can say so before the template's answer with its pid
    // is read: it is ready once both have come.
    if (pid() == 0) {
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
  if (state_ != State::Exited && child_) child_->signal(signum);
}

void WorkerProcess::stop(std::chrono::milliseconds kill_after, int signum) {
  if (state_ == State::Exited || state_ == State::Stopping) return;
  state_ = State::Stopping;
  signal(signum);
  if (!kill_timer_ && !kill_timer_.open(loop_, &handles_)) {
    if (log_) log_->write_line("error", pool_name_, pid(), "cannot make the kill timer: killing it now");
    return signal(SIGKILL);
  }
  kill_timer_.start(static_cast<std::uint64_t>(kill_after.count()), 0, [this] {
    if (state_ == State::Exited) return;
    if (log_) log_->write_line("warning", pool_name_, pid(), "did not stop in time; killing it");
    signal(SIGKILL);
  });
}

void WorkerProcess::handle_exit(int64_t status, int sig) {
  state_ = State::Exited;
  final_requests_ = board_ ? board_->requests_served.load(std::memory_order_relaxed) : 0;
  kill_timer_.close();
  // What the worker handed over before it went is still queued on our end:
  // pass it on before the socket closes.
  on_handoff_readable();
  handoff_poll_.close();
  handoff_fd_.reset();
  output_.drain();
  if (forks_) {
    forks_->fail_all("the template exited");
    forks_->close();
  }
  events_.exited(*this, status, sig);
}

void WorkerProcess::on_handles_closed() {
  // Closed before the exit (a failed start leaves none open): nothing
  // more will come for it either way.
  if (state_ == State::Exited && events_.closed) events_.closed(*this);
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
  if (measure_rss) observed_rss_ = resident_bytes(pid());
}

ProcessView WorkerProcess::view(std::chrono::steady_clock::time_point now) const {
  ProcessView v;
  v.pid = pid();
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
  s.pid = pid();
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
    std::uint64_t now = monotonic_us();
    ThreadSlot::Request request;
    for (std::uint32_t i = 0; i < board_->thread_count && i < kScoreboardThreads; ++i) {
      if (!board_->threads[i].read(request)) continue;
      double seconds = request.start_us < now ? static_cast<double>(now - request.start_us) / 1e6 : 0.0;
      s.in_flight.push_back({std::move(request.label), seconds});
    }
  }
  s.rss_bytes = resident_bytes(pid());
  return s;
}

std::string exited_with(int64_t status) {
  const char* meaning = worker_exit::describe(status);
  if (status == worker_exit::kStopped || !*meaning) return fmt::format("exited with status {}", status);
  return fmt::format("exited with status {} ({})", status, meaning);
}

std::string exit_reason(int64_t status, int signal) {
  if (signal) return fmt::format("killed by signal {} ({})", signal, strsignal(signal));
  return exited_with(status);
}

}  // namespace wsgi_fpm::supervisor
