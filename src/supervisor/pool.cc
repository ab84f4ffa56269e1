#include "supervisor/pool.h"

#include <cstring>
#include <signal.h>
#include <unistd.h>

#include <algorithm>

#include "util/log.h"

namespace wsgi_fpm::supervisor {

// One slot of the pool: the process in it now, and how often it failed.
struct Pool::Process {
  Pool* pool = nullptr;
  std::size_t slot = 0;
  uv_process_t* handle = nullptr;  // freed in its close callback
  uv_timer_t* respawn_timer = nullptr;
  int quick_failures = 0;
  std::chrono::steady_clock::time_point started;
  bool alive = false;
};

namespace {

template <typename Handle>
void close_and_free(Handle* h) {
  uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* raw) { delete reinterpret_cast<Handle*>(raw); });
}

std::string exit_reason(int64_t status, int term_signal) {
  if (term_signal) return fmt::format("killed by signal {} ({})", term_signal, strsignal(term_signal));
  return fmt::format("exited with status {}", status);
}

}  // namespace

Pool::Pool(uv_loop_t* loop, PoolSpec spec) : loop_(loop), spec_(std::move(spec)) {}

Pool::~Pool() { release_socket(); }

void Pool::release_socket() {
  if (!listen_fd_) return;
  listen_fd_.reset();
  if (spec_.listen.kind == Address::Kind::Unix) unlink(spec_.listen.path.c_str());
}

bool Pool::start(std::string& error) {
  listen_fd_ = listen_on(spec_.listen, spec_.socket_owner, spec_.listen_backlog, error);
  if (!listen_fd_) return false;
  spec_.worker.listen_fd = 3;
  spec_.worker.supervisor_pid = getpid();
  for (int i = 0; i < spec_.processes; ++i) {
    auto p = std::make_unique<Process>();
    p->pool = this;
    p->slot = static_cast<std::size_t>(i);
    processes_.push_back(std::move(p));
    spawn(static_cast<std::size_t>(i));
  }
  log::info("pool {} listening on {} with {} process{}", spec_.name, spec_.listen.str(),
            spec_.processes, spec_.processes == 1 ? "" : "es");
  return true;
}

void Pool::spawn(std::size_t slot) {
  Process& p = *processes_[slot];
  std::vector<std::string> args = worker::worker_arguments(spec_.worker);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(spec_.worker_executable.c_str()));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> env;
  for (auto& e : spec_.environment) env.push_back(e.data());
  env.push_back(nullptr);

  uv_stdio_container_t stdio[4];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = 1;
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = 2;
  stdio[3].flags = UV_INHERIT_FD;  // the listening socket, as fd 3 in the worker
  stdio[3].data.fd = listen_fd_.get();

  uv_process_options_t options{};
  options.file = spec_.worker_executable.c_str();
  options.args = argv.data();
  options.env = env.data();
  options.stdio = stdio;
  options.stdio_count = 4;
  options.exit_cb = [](uv_process_t* h, int64_t status, int sig) {
    auto* process = static_cast<Process*>(h->data);
    process->pool->on_exit(process, status, sig);
  };
  p.handle = new uv_process_t;
  p.handle->data = &p;
  int rc = uv_spawn(loop_, p.handle, &options);
  if (rc != 0) {
    log::error("pool {}: cannot start {}: {}", spec_.name, spec_.worker_executable, uv_strerror(rc));
    close_and_free(p.handle);
    p.handle = nullptr;
    on_exit(&p, 127, 0);
    return;
  }
  p.alive = true;
  p.started = std::chrono::steady_clock::now();
}

void Pool::on_exit(Process* p, int64_t status, int term_signal) {
  if (p->handle) {
    close_and_free(p->handle);
    p->handle = nullptr;
  }
  bool was_alive = p->alive;
  p->alive = false;
  if (stopping_) {
    maybe_finish_stop();
    return;
  }
  // Exponential backoff for a process that keeps dying young, so a broken
  // application never becomes a fork loop.
  auto lived = std::chrono::steady_clock::now() - p->started;
  if (!was_alive || lived < std::chrono::seconds(10)) {
    p->quick_failures++;
  } else {
    p->quick_failures = 0;
  }
  int delay_ms = p->quick_failures == 0 ? 0 : std::min(100 << std::min(p->quick_failures - 1, 8), 30000);
  log::warning("pool {}: worker {} {}; starting a new one{}", spec_.name, p->slot,
               exit_reason(status, term_signal),
               delay_ms ? fmt::format(" in {} ms", delay_ms) : std::string());
  if (!p->respawn_timer) {
    p->respawn_timer = new uv_timer_t;
    uv_timer_init(loop_, p->respawn_timer);
    p->respawn_timer->data = p;
  }
  uv_timer_start(p->respawn_timer, [](uv_timer_t* t) {
    auto* process = static_cast<Process*>(t->data);
    if (!process->pool->stopping_) process->pool->spawn(process->slot);
  }, static_cast<uint64_t>(delay_ms), 0);
}

void Pool::stop(std::function<void()> done) {
  stopping_ = true;
  stopped_ = std::move(done);
  for (auto& p : processes_) {
    if (p->respawn_timer) uv_timer_stop(p->respawn_timer);
    if (p->alive && p->handle) uv_process_kill(p->handle, SIGTERM);
  }
  kill_timer_ = new uv_timer_t;
  uv_timer_init(loop_, kill_timer_);
  kill_timer_->data = this;
  uv_timer_start(kill_timer_, [](uv_timer_t* t) {
    auto* pool = static_cast<Pool*>(t->data);
    for (auto& p : pool->processes_) {
      if (p->alive && p->handle) {
        log::warning("pool {}: worker pid {} still running after shutdown-timeout; killing it",
                     pool->spec_.name, p->handle->pid);
        uv_process_kill(p->handle, SIGKILL);
      }
    }
  }, static_cast<uint64_t>(spec_.shutdown_timeout) * 1000, 0);
  maybe_finish_stop();
}

void Pool::maybe_finish_stop() {
  if (!stopping_) return;
  for (auto& p : processes_) {
    if (p->alive) return;
  }
  if (kill_timer_) {
    close_and_free(kill_timer_);
    kill_timer_ = nullptr;
  }
  for (auto& p : processes_) {
    if (p->respawn_timer) {
      close_and_free(p->respawn_timer);
      p->respawn_timer = nullptr;
    }
  }
  release_socket();
  if (stopped_) {
    auto done = std::move(stopped_);
    stopped_ = nullptr;
    done();
  }
}

}  // namespace wsgi_fpm::supervisor
