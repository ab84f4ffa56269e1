#include "supervisor/worker_process.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

#include "util/fd.h"

namespace wsgi_fpm::supervisor {

// A pipe from the worker, split into lines.
struct WorkerProcess::Pipe {
  uv_pipe_t handle;
  std::string partial;
  std::function<void(std::string_view)> on_line;
};

namespace {

void on_alloc(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
  buf->base = new char[suggested];
  buf->len = suggested;
}

}  // namespace

WorkerProcess::WorkerProcess(uv_loop_t* loop, std::size_t slot, Events events)
    : loop_(loop), slot_(slot), events_(std::move(events)) {}

WorkerProcess::~WorkerProcess() {
  if (board_) munmap(board_, sizeof(Scoreboard));
}

bool WorkerProcess::spawn(const SpawnOptions& o, std::string& error) {
  pool_name_ = o.pool_name;
  log_ = o.log;
  // The scoreboard: shared memory the worker writes and we read.
  UniqueFd board_fd(memfd_create("wsgi-fpm-scoreboard", MFD_CLOEXEC));
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

  stdout_ = std::make_unique<Pipe>();
  stderr_ = std::make_unique<Pipe>();
  notify_ = std::make_unique<Pipe>();
  for (Pipe* pipe : {stdout_.get(), stderr_.get(), notify_.get()}) {
    uv_pipe_init(loop_, &pipe->handle, 0);
    pipe->handle.data = this;
    open_handles_++;
  }
  stdout_->on_line = [this](std::string_view l) { on_line(false, l); };
  stderr_->on_line = [this](std::string_view l) { on_line(true, l); };
  notify_->on_line = [this](std::string_view l) { on_notify(l); };

  uv_stdio_container_t stdio[6];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[1].data.stream = reinterpret_cast<uv_stream_t*>(&stdout_->handle);
  stdio[2].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[2].data.stream = reinterpret_cast<uv_stream_t*>(&stderr_->handle);
  stdio[kListenFd].flags = UV_INHERIT_FD;
  stdio[kListenFd].data.fd = o.listen_fd;
  stdio[kScoreboardFd].flags = UV_INHERIT_FD;
  stdio[kScoreboardFd].data.fd = board_fd.get();
  stdio[kNotifyFd].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
  stdio[kNotifyFd].data.stream = reinterpret_cast<uv_stream_t*>(&notify_->handle);

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
  options.stdio_count = 6;
  options.exit_cb = [](uv_process_t* h, int64_t status, int sig) {
    auto* self = static_cast<WorkerProcess*>(h->data);
    self->state_ = State::Exited;
    if (self->board_) self->final_requests_ = self->board_->requests_served.load(std::memory_order_relaxed);
    if (self->kill_timer_) {
      uv_timer_stop(self->kill_timer_);
      uv_close(reinterpret_cast<uv_handle_t*>(self->kill_timer_), [](uv_handle_t* raw) {
        auto* me = static_cast<WorkerProcess*>(raw->data);
        delete reinterpret_cast<uv_timer_t*>(raw);
        me->handle_closed();
      });
      self->kill_timer_ = nullptr;
    }
    self->events_.exited(*self, status, sig);
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
  for (Pipe* pipe : {stdout_.get(), stderr_.get(), notify_.get()}) {
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&pipe->handle), on_alloc,
        [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
          auto* self = static_cast<WorkerProcess*>(stream->data);
          Pipe* pipe = self->stdout_.get();
          if (stream == reinterpret_cast<uv_stream_t*>(&self->stderr_->handle)) pipe = self->stderr_.get();
          if (stream == reinterpret_cast<uv_stream_t*>(&self->notify_->handle)) pipe = self->notify_.get();
          if (n > 0) {
            pipe->partial.append(buf->base, static_cast<size_t>(n));
            size_t start = 0;
            for (size_t nl; (nl = pipe->partial.find('\n', start)) != std::string::npos; start = nl + 1)
              pipe->on_line(std::string_view(pipe->partial).substr(start, nl - start));
            pipe->partial.erase(0, start);
            if (pipe->partial.size() > 65536) {  // a runaway line: flush it as is
              pipe->on_line(pipe->partial);
              pipe->partial.clear();
            }
          }
          delete[] buf->base;
          if (n < 0) {
            if (!pipe->partial.empty()) pipe->on_line(pipe->partial);
            pipe->partial.clear();
            uv_close(reinterpret_cast<uv_handle_t*>(stream), [](uv_handle_t* raw) {
              static_cast<WorkerProcess*>(raw->data)->handle_closed();
            });
          }
        });
  }
  return true;
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
  if (line == "ready") {
    if (state_ == State::Starting) {
      state_ = State::Ready;
      last_active_ = std::chrono::steady_clock::now();
      events_.ready(*this);
    }
  } else if (line.starts_with("retire") || line.starts_with("evict")) {
    bool evicted = line.starts_with("evict");
    auto verb = evicted ? std::size_t{5} : std::size_t{6};
    auto reason = line.size() > verb + 1 ? std::string(line.substr(verb + 1)) : std::string("requested");
    if (state_ == State::Ready) events_.retire(*this, reason, evicted);
  }
}

void WorkerProcess::signal(int signum) {
  if (process_ && state_ != State::Exited) uv_process_kill(process_, signum);
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

void WorkerProcess::observe(std::chrono::steady_clock::time_point now) {
  std::uint64_t served = requests_served();
  unsigned busy = board_ ? board_->busy_threads.load(std::memory_order_relaxed) : 0;
  if (busy > 0 || served != observed_requests_) last_active_ = now;
  observed_requests_ = served;
}

ProcessView WorkerProcess::view(std::chrono::steady_clock::time_point now) const {
  ProcessView v;
  v.pid = pid_;
  v.ready = state_ == State::Ready;
  v.busy_threads = board_ ? board_->busy_threads.load(std::memory_order_relaxed) : 0;
  v.served_any = observed_requests_ > 0;
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
  std::ifstream statm("/proc/" + std::to_string(pid_) + "/statm");
  std::uint64_t size_pages = 0, rss_pages = 0;
  if (statm >> size_pages >> rss_pages) s.rss_bytes = rss_pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
  return s;
}

}  // namespace wsgi_fpm::supervisor
