#include "worker/dispatcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "util/log.h"
#include "util/socket.h"

namespace wsgi_fpm::worker {

struct Dispatcher::Entry {
  std::unique_ptr<Connection> connection;
  bool idle = false;        // waiting in the epoll set for its next request
  bool registered = false;  // has been added to the epoll set
};

namespace {
// Tags for the two non-connection members of the epoll set.
int g_listen_tag;
int g_exit_tag;
}  // namespace

Dispatcher::Dispatcher(int listen_fd, ConnectionFactory factory)
    : listen_fd_(listen_fd),
      epoll_fd_(epoll_create1(EPOLL_CLOEXEC)),
      exit_event_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      factory_(std::move(factory)) {
  // Non-blocking so that a thread woken for a connection a sibling process
  // took already gets EAGAIN instead of sleeping in accept().
  set_nonblocking(listen_fd_.get(), true);
  set_cloexec(listen_fd_.get(), true);
  // EPOLLEXCLUSIVE: a new connection wakes one waiting thread of one
  // process, not one in every sibling (the thundering herd), and needs no
  // re-arming after each accept.
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLEXCLUSIVE;
  ev.data.ptr = &g_listen_tag;
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, listen_fd_.get(), &ev);
  // Level-triggered and never read: once set, it wakes every thread in turn.
  ev.events = EPOLLIN;
  ev.data.ptr = &g_exit_tag;
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, exit_event_fd_.get(), &ev);
}

Dispatcher::~Dispatcher() = default;

void Dispatcher::run_thread(const RequestHandler& handler) {
  while (true) {
    epoll_event ev;
    int n = epoll_wait(epoll_fd_.get(), &ev, 1, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      log::error("epoll_wait: {}", std::strerror(errno));
      return;
    }
    if (n == 0) continue;
    if (ev.data.ptr == &g_exit_tag) return;
    if (ev.data.ptr == &g_listen_tag) {
      accept_one(handler);
      continue;
    }
    auto* entry = static_cast<Entry*>(ev.data.ptr);
    {
      std::lock_guard lock(mutex_);
      entry->idle = false;
    }
    serve(entry, handler);
  }
}

void Dispatcher::accept_one(const RequestHandler& handler) {
  int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  int saved = errno;
  if (fd < 0) {
    if (saved != EAGAIN && saved != EWOULDBLOCK && saved != EINTR && saved != ECONNABORTED) {
      log::error("accept: {}", std::strerror(saved));
      // Out of descriptors or memory: back off rather than spin.
      if (saved == EMFILE || saved == ENFILE || saved == ENOBUFS || saved == ENOMEM)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return;
  }
  UniqueFd conn_fd(fd);
  if (admit_ && !admit_(fd)) return;
  auto entry = std::make_unique<Entry>();
  entry->connection = factory_(std::move(conn_fd));
  Entry* raw = entry.get();
  {
    std::lock_guard lock(mutex_);
    entries_.emplace(raw, std::move(entry));
  }
  serve(raw, handler);
}

void Dispatcher::serve(Entry* entry, const RequestHandler& handler) {
  Connection& conn = *entry->connection;
  while (true) {
    auto head = conn.read_head();
    if (head != Connection::HeadResult::Ready) {
      close_entry(entry);
      return;
    }
    handler(conn);
    if (!conn.finish_request()) {
      close_entry(entry);
      return;
    }
    if (!conn.has_buffered_input()) break;  // else: the next request is already here
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      // fall through to close, outside the lock
    } else {
      entry->idle = true;
      arm(entry, !entry->registered);
      entry->registered = true;
      return;
    }
  }
  close_entry(entry);
}

void Dispatcher::arm(Entry* entry, bool first_time) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.ptr = entry;
  epoll_ctl(epoll_fd_.get(), first_time ? EPOLL_CTL_ADD : EPOLL_CTL_MOD,
            entry->connection->fd(), &ev);
}

void Dispatcher::close_entry(Entry* entry) {
  std::unique_ptr<Entry> owned;
  std::lock_guard lock(mutex_);
  auto it = entries_.find(entry);
  if (it == entries_.end()) return;
  owned = std::move(it->second);
  entries_.erase(it);
  if (owned->registered) epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, owned->connection->fd(), nullptr);
  if (stopping_ && entries_.empty()) drained_.notify_all();
  // `owned` closes the socket when it goes out of scope, still under the
  // lock, so begin_stop never sees a closed descriptor.
}

void Dispatcher::begin_stop() {
  std::lock_guard lock(mutex_);
  if (stopping_) return;
  stopping_ = true;
  // Out of the epoll set: this process accepts no more, its siblings do. The
  // descriptor stays open until the dispatcher goes, because a request thread
  // may be inside accept4() on it right now: closed under it, the number
  // could be handed to the next socket opened (ThreadSanitizer found this in
  // tests/unit/test_dispatcher.cc).
  epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, listen_fd_.get(), nullptr);
  for (auto& [raw, entry] : entries_) {
    // An idle keep-alive connection becomes readable at EOF; the thread it
    // wakes finds no request and closes it.
    if (entry->idle) ::shutdown(entry->connection->fd(), SHUT_RDWR);
  }
  if (entries_.empty()) drained_.notify_all();
}

bool Dispatcher::wait_drained(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return drained_.wait_until(lock, deadline, [&] { return stopping_ && entries_.empty(); });
}

void Dispatcher::release_threads() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(exit_event_fd_.get(), &one, sizeof one);
}

std::size_t Dispatcher::open_connections() {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace wsgi_fpm::worker
