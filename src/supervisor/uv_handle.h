// Owned libuv handles.
//
// libuv needs a handle's memory until its close callback has run, which is
// after whoever closed it may be gone. So a handle lives in a heap box with
// its callback; the owner holds the box through Handle<T, Signature>
// (movable, not copyable), closing is the destructor's job, and the close
// callback frees the box. No raw `new uv_*_t`, no casts to uv_handle_t* and
// no hand-kept counts in the owners: a HandleCount counts an owner's handles
// still closing, for an owner whose own end must wait for them (a Pool
// finishes stopping when its count reaches zero).
//
// A callback may close or destroy its own handle, or start it again with
// another callback: the box outlives the call, and the callback called is a
// copy (a capture of `this` fits std::function's own storage: no allocation).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

namespace wsgi_fpm::supervisor {

// How many of an owner's handles are open or closing. Boxes hold its state,
// so a close callback that runs after the owner is gone touches only that.
class HandleCount {
 public:
  HandleCount() : state_(std::make_shared<State>()) {}
  ~HandleCount() { state_->on_zero = nullptr; }
  HandleCount(const HandleCount&) = delete;
  HandleCount& operator=(const HandleCount&) = delete;

  int open() const { return state_->open; }
  // Called each time the count comes down to zero (never after the
  // HandleCount is destroyed).
  void on_all_closed(std::function<void()> fn) { state_->on_zero = std::move(fn); }

 private:
  template <class, class>
  friend class Handle;
  struct State {
    int open = 0;
    std::function<void()> on_zero;
  };
  std::shared_ptr<State> state_;
};

template <class T, class Signature>
class Handle {
 public:
  Handle() = default;
  ~Handle() { close(); }
  Handle(Handle&& other) noexcept : box_(std::exchange(other.box_, nullptr)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      close();
      box_ = std::exchange(other.box_, nullptr);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // Makes the handle with `init(loop, handle, args...)` (uv_timer_init,
  // uv_poll_init, ...), closing any it had. Returns init's result: on an
  // error there is no handle (libuv registers none on a failed init).
  template <class Init, class... Args>
  int open(Init init, uv_loop_t* loop, const HandleCount* count, Args&&... args) {
    close();
    auto* box = new Box;
    box->handle.data = box;
    int rc = init(loop, &box->handle, std::forward<Args>(args)...);
    if (rc != 0) {
      delete box;
      return rc;
    }
    box->handle.data = box;  // (no init clears it; set again to rely on none)
    adopt(box, count);
    return 0;
  }
  // uv_spawn: the one init after which libuv holds the handle even when it
  // failed, so that it must be closed either way. `callback` is set before,
  // for an exit that is reported as the handle starts.
  int spawn(uv_loop_t* loop, const HandleCount* count, uv_process_options_t& options, std::function<Signature> callback) {
    close();
    auto* box = new Box;
    box->handle.data = box;
    box->callback = std::move(callback);
    int rc = uv_spawn(loop, &box->handle, &options);
    box->handle.data = box;
    adopt(box, count);
    if (rc != 0) close();
    return rc;
  }

  explicit operator bool() const { return box_ != nullptr; }
  T* get() const { return box_ ? &box_->handle : nullptr; }
  uv_handle_t* base() const { return box_ ? reinterpret_cast<uv_handle_t*>(&box_->handle) : nullptr; }
  bool active() const { return box_ && uv_is_active(base()); }
  // The loop may end while this handle is all that is left (uv_unref).
  void unref() {
    if (box_) uv_unref(base());
  }

  // The callback the trampolines below call; set it before starting.
  void set_callback(std::function<Signature> fn) { box_->callback = std::move(fn); }

  // Calls the handle's callback: for libuv's callbacks, whose first argument
  // is the handle (its data is the box).
  template <class... Args>
  static void call(T* handle, Args... args) {
    auto* box = static_cast<Box*>(handle->data);
    if (!box->callback) return;
    auto fn = box->callback;
    fn(args...);
  }

  // Closes the handle now (its memory goes in libuv's close callback).
  void close() {
    Box* box = std::exchange(box_, nullptr);
    if (!box) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&box->handle), [](uv_handle_t* h) {
      auto* closed = static_cast<Box*>(h->data);
      std::shared_ptr<HandleCount::State> count = std::move(closed->count);
      delete closed;
      if (!count || --count->open != 0 || !count->on_zero) return;
      auto fn = count->on_zero;  // a copy: it may destroy the owner, and with it the original
      fn();
    });
  }

 private:
  struct Box;
  void adopt(Box* box, const HandleCount* count) {
    if (count) {
      box->count = count->state_;
      ++box->count->open;
    }
    box_ = box;
  }

  struct Box {
    T handle{};
    std::function<Signature> callback;
    std::shared_ptr<HandleCount::State> count;
  };
  Box* box_ = nullptr;
};

// A timer that runs a function.
class Timer {
 public:
  // False if libuv could not make it (then start() does nothing).
  bool open(uv_loop_t* loop, const HandleCount* count = nullptr) {
    return handle_.open(uv_timer_init, loop, count) == 0;
  }
  explicit operator bool() const { return static_cast<bool>(handle_); }
  // After `timeout_ms`, then every `repeat_ms` if not 0.
  void start(std::uint64_t timeout_ms, std::uint64_t repeat_ms, std::function<void()> fn) {
    if (!handle_) return;
    handle_.set_callback(std::move(fn));
    uv_timer_start(handle_.get(), [](uv_timer_t* t) { Handle<uv_timer_t, void()>::call(t); }, timeout_ms,
                   repeat_ms);
  }
  void stop() {
    if (handle_) uv_timer_stop(handle_.get());
  }
  bool active() const { return handle_.active(); }
  void unref() { handle_.unref(); }
  void close() { handle_.close(); }

 private:
  Handle<uv_timer_t, void()> handle_;
};

// A watch on a descriptor's readiness (uv_poll).
class Poll {
 public:
  // Returns libuv's error (e.g. the descriptor cannot be polled), 0 if made.
  int open(uv_loop_t* loop, int fd, const HandleCount* count = nullptr) {
    return handle_.open(uv_poll_init, loop, count, fd);
  }
  explicit operator bool() const { return static_cast<bool>(handle_); }
  // `fn(status, events)` on each report of `events` (UV_READABLE, ...).
  int start(int events, std::function<void(int status, int events)> fn) {
    if (!handle_) return UV_EINVAL;
    handle_.set_callback(std::move(fn));
    return uv_poll_start(handle_.get(), events, [](uv_poll_t* p, int status, int ready) {
      Handle<uv_poll_t, void(int, int)>::call(p, status, ready);
    });
  }
  void stop() {
    if (handle_) uv_poll_stop(handle_.get());
  }
  bool active() const { return handle_.active(); }
  void close() { handle_.close(); }

 private:
  Handle<uv_poll_t, void(int, int)> handle_;
};

// A signal delivered to the loop (uv_signal).
class Signal {
 public:
  bool open(uv_loop_t* loop, const HandleCount* count = nullptr) {
    return handle_.open(uv_signal_init, loop, count) == 0;
  }
  int start(int signum, std::function<void()> fn) {
    if (!handle_) return UV_EINVAL;
    handle_.set_callback(std::move(fn));
    return uv_signal_start(handle_.get(), [](uv_signal_t* h, int) { Handle<uv_signal_t, void()>::call(h); },
                           signum);
  }
  void unref() { handle_.unref(); }
  void close() { handle_.close(); }

 private:
  Handle<uv_signal_t, void()> handle_;
};

// A listening UNIX socket (uv_pipe), for the control socket.
class PipeListener {
 public:
  // Takes `fd` (a bound, listening socket) on success; libuv's error if not.
  int open(uv_loop_t* loop, int fd) {
    int rc = handle_.open(uv_pipe_init, loop, nullptr, 0);
    if (rc == 0) rc = uv_pipe_open(handle_.get(), fd);
    if (rc != 0) handle_.close();
    return rc;
  }
  explicit operator bool() const { return static_cast<bool>(handle_); }
  // `fn()` for each connection waiting to be accepted (from stream()).
  int listen(int backlog, std::function<void()> fn) {
    if (!handle_) return UV_EINVAL;
    handle_.set_callback(std::move(fn));
    return uv_listen(stream(), backlog, [](uv_stream_t* s, int status) {
      if (status == 0) Handle<uv_pipe_t, void()>::call(reinterpret_cast<uv_pipe_t*>(s));
    });
  }
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(handle_.get()); }
  void close() { handle_.close(); }

 private:
  Handle<uv_pipe_t, void()> handle_;
};

// A child process started with uv_spawn; libuv reaps it.
class Process {
 public:
  // Starts `options` (its exit_cb is this wrapper's): `on_exit(status,
  // signal)` once the child is gone. Returns libuv's error, 0 if started.
  int spawn(uv_loop_t* loop, uv_process_options_t& options, const HandleCount* count,
            std::function<void(std::int64_t, int)> on_exit) {
    options.exit_cb = [](uv_process_t* p, std::int64_t status, int signal) {
      Handle<uv_process_t, void(std::int64_t, int)>::call(p, status, signal);
    };
    return handle_.spawn(loop, count, options, std::move(on_exit));
  }
  explicit operator bool() const { return static_cast<bool>(handle_); }
  long pid() const { return handle_ ? handle_.get()->pid : 0; }
  int kill(int signum) { return handle_ ? uv_process_kill(handle_.get(), signum) : UV_ESRCH; }
  void close() { handle_.close(); }

 private:
  Handle<uv_process_t, void(std::int64_t, int)> handle_;
};

// The read end of a pipe: a child's stdout, say.
class ReadPipe {
 public:
  // Made for uv_spawn to connect (UV_CREATE_PIPE, stream()); or, with
  // `fd`, on a descriptor of ours (taken on success).
  int open(uv_loop_t* loop, const HandleCount* count, int fd = -1) {
    int rc = handle_.open(uv_pipe_init, loop, count, 0);
    if (rc == 0 && fd >= 0) rc = uv_pipe_open(handle_.get(), fd);
    if (rc != 0) handle_.close();
    return rc;
  }
  explicit operator bool() const { return static_cast<bool>(handle_); }
  uv_stream_t* stream() const { return reinterpret_cast<uv_stream_t*>(handle_.get()); }
  // `fn(data, n)` for each read; n < 0 (libuv's error, UV_EOF) at the end.
  // The data is good for the call only.
  int start(std::function<void(const char*, ssize_t)> fn) {
    if (!handle_) return UV_EINVAL;
    handle_.set_callback(std::move(fn));
    return uv_read_start(
        stream(),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          // One buffer serves every pipe: the loop has one thread, and each
          // read is handed on before the next.
          static char buffer[65536];
          *buf = uv_buf_init(buffer, sizeof buffer);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          if (n == 0) return;  // EAGAIN
          Handle<uv_pipe_t, void(const char*, ssize_t)>::call(reinterpret_cast<uv_pipe_t*>(s), buf->base, n);
        });
  }
  void stop() {
    if (handle_) uv_read_stop(stream());
  }
  // The descriptor, -1 without one.
  int fd() const {
    uv_os_fd_t fd = -1;
    if (!handle_ || uv_fileno(handle_.base(), &fd) != 0) return -1;
    return fd;
  }
  void close() { handle_.close(); }

 private:
  Handle<uv_pipe_t, void(const char*, ssize_t)> handle_;
};

// Changes in a directory (uv_fs_event).
class FsEvent {
 public:
  bool open(uv_loop_t* loop, const HandleCount* count = nullptr) {
    return handle_.open(uv_fs_event_init, loop, count) == 0;
  }
  explicit operator bool() const { return static_cast<bool>(handle_); }
  int start(const char* path, std::function<void()> fn) {
    if (!handle_) return UV_EINVAL;
    handle_.set_callback(std::move(fn));
    return uv_fs_event_start(handle_.get(), [](uv_fs_event_t* h, const char*, int, int) {
      Handle<uv_fs_event_t, void()>::call(h);
    }, path, 0);
  }
  void unref() { handle_.unref(); }
  void close() { handle_.close(); }

 private:
  Handle<uv_fs_event_t, void()> handle_;
};

}  // namespace wsgi_fpm::supervisor
