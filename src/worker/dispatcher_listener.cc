// The Dispatcher's listening socket (dispatcher.h): accepting a burst of
// connections from the backlog, finding out that the socket was lost, and
// the admission of each connection (maximum-connections).
#include "worker/dispatcher.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <thread>

#include "util/log.h"
#include "worker/dispatcher_internal.h"

namespace wsgi_fpm::worker {

// Called for an edge of the listening socket (or a backlog left pending):
// connections that arrived before the edge was taken raised no edge of their
// own, so they are accepted here too. The first is served by this thread;
// each further one goes into the epoll set for a thread of this process
// that is waiting there. Once no thread waits, the rest of the backlog is
// left to whichever comes first: a sibling process woken by a new
// connection, or this process's next free thread (backlog_pending_).
void Dispatcher::accept_burst(const RequestHandler& handler) {
  UniqueFd first;
  do first = accept_one();
  while (!first && errno != EAGAIN);
  if (!first) return;
  while (waiting_threads_.load(std::memory_order_relaxed) > 0) {
    UniqueFd more = accept_one();
    if (!more) {
      if (errno == EAGAIN) break;  // the backlog is empty
      continue;
    }
    // Waits in the epoll set like an idle keep-alive connection: its
    // request (or its arrival) wakes a thread.
    if (auto entry = admit(std::move(more))) park(std::move(entry));
  }
  if (waiting_threads_.load(std::memory_order_relaxed) == 0) backlog_pending_.store(true);
  if (auto entry = admit(std::move(first))) serve(std::move(entry), handler);
}

UniqueFd Dispatcher::accept_one() {
  if (stopping_.load()) {
    errno = EAGAIN;
    return UniqueFd();
  }
  return accept_listening();
}

UniqueFd Dispatcher::accept_listening() {
  if (listener_lost_.load(std::memory_order_relaxed)) {
    errno = EAGAIN;
    return UniqueFd();
  }
  int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd >= 0) return UniqueFd(fd);
  int saved = errno;
  if (saved == EWOULDBLOCK) saved = EAGAIN;
  if (saved == EBADF || saved == ENOTSOCK || saved == EINVAL || saved == EOPNOTSUPP) {
    // No listening socket behind the number any more. The epoll set still
    // reports the socket (the supervisor's descriptor keeps it alive), and
    // retrying each report is what spun a core in issue 13: stop here.
    lose_listener(std::string("accept: ") + std::strerror(saved));
    errno = EAGAIN;
    return UniqueFd();
  }
  if (saved != EAGAIN && saved != EINTR && saved != ECONNABORTED) {
    log::error("accept: {}", std::strerror(saved));
    // Out of descriptors or memory: back off rather than spin.
    if (saved == EMFILE || saved == ENFILE || saved == ENOBUFS || saved == ENOMEM)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    // Whatever is left in the backlog is tried again by the next free thread.
    backlog_pending_.store(true);
    saved = EAGAIN;
  }
  errno = saved;
  return UniqueFd();
}

bool Dispatcher::check_listener() {
  if (listener_lost_.load()) return false;
  if (listen_identity_.intact()) return true;
  lose_listener("closed, or its number now names another file");
  return false;
}

// The epoll set cannot drop a lost socket (EPOLL_CTL_DEL needs a descriptor
// of that very file, and we have none left), so until this process exits a
// new connection may still wake one of its threads, which accepts nothing:
// the connection waits in the shared backlog for a sibling's next wake-up or
// for our successor (whose EPOLL_CTL_ADD reports a non-empty backlog at
// once). Hence the callback: have this process replaced soon.
void Dispatcher::lose_listener(const std::string& why) {
  if (listener_lost_.exchange(true)) return;
  log::error("lost its listening socket (descriptor {}: {}): did the application close it? "
             "This process accepts no more connections",
             listen_fd_.get(), why);
  if (on_lost_) on_lost_(why);
}

// Make room by the longest idle waiting connection, never by refusing the new
// one: a frontend's new connection carries a request now, an idle one maybe
// never again. With every connection busy in a thread, the bound is passed
// (by at most the thread count) rather than the listening socket left
// unserved.
std::unique_ptr<Dispatcher::Entry> Dispatcher::make_room_locked() {
  // An idle keep-alive connection before one a request is coming on.
  auto victim = waiting_.end();
  auto before = [](const Entry& a, const Entry& b) {
    if (a.owes_request() != b.owes_request()) return !a.owes_request();
    return a.parked_at < b.parked_at;
  };
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (victim == waiting_.end() || before(*it->second, *victim->second)) victim = it;
  }
  if (victim == waiting_.end()) return nullptr;
  std::unique_ptr<Entry> oldest = std::move(victim->second);
  waiting_.erase(victim);
  log::warning("maximum-connections ({}) reached: closing the longest idle connection", limits_.maximum_connections);
  return oldest;
}

std::unique_ptr<Dispatcher::Entry> Dispatcher::count_in(UniqueFd fd) {
  auto entry = std::make_unique<Entry>();
  entry->connection = factory_(std::move(fd));
  open_.fetch_add(1);
  return entry;
}

std::unique_ptr<Dispatcher::Entry> Dispatcher::admit(UniqueFd fd) {
  if (admit_ && !admit_(fd.get())) return nullptr;
  if (open_.load() >= limits_.maximum_connections) {
    std::unique_ptr<Entry> oldest;
    {
      std::lock_guard lock(mutex_);
      oldest = make_room_locked();
    }
    if (oldest) close(std::move(oldest));
  }
  return count_in(std::move(fd));
}

std::unique_ptr<Dispatcher::Entry> Dispatcher::admit_locked(UniqueFd fd) {
  if (admit_ && !admit_(fd.get())) return nullptr;
  if (open_.load() >= limits_.maximum_connections) {
    if (auto oldest = make_room_locked()) close_locked(std::move(oldest));
  }
  return count_in(std::move(fd));
}

}  // namespace wsgi_fpm::worker
