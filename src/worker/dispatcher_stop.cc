// The Dispatcher's stop (dispatcher.h): begin_stop, the hand-over (or close)
// of idle keep-alive connections, the backlog served before the process
// exits, and the wait for the connections left to drain.
#include "worker/dispatcher.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "util/log.h"
#include "worker/dispatcher_internal.h"

namespace wsgi_fpm::worker {

using dispatcher_internal::input_waiting;

void Dispatcher::let_go_locked(std::vector<std::unique_ptr<Entry>> idle) {
  constexpr std::size_t kBatch = 64;  // descriptors per hand-over
  for (std::size_t first = 0; first < idle.size(); first += kBatch) {
    std::size_t count = std::min(kBatch, idle.size() - first);
    int fds[kBatch];
    for (std::size_t i = 0; i < count; ++i) fds[i] = idle[first + i]->connection->fd();
    // Handed over, the connection lives on in the sibling with whatever
    // request is on its way in it; only our descriptor closes. Not handed
    // over, the close races with a request the frontend may be sending.
    if (hand_over_ && !hand_over_(fds, count))
      log::warning("{} idle keep-alive connection(s) could not be handed over: closing them", count);
    for (std::size_t i = 0; i < count; ++i) close_locked(std::move(idle[first + i]));
  }
}

void Dispatcher::begin_stop() {
  // Connections handed to this process a moment ago may wait unread in the
  // watched socket (the supervisor passed them on just before it stopped
  // us): taken in now, they are handed over below with the others, rather
  // than closed when the process exits with the socket unread.
  if (on_watched_ && !stopping_.load() && !on_watched_())
    epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, watched_fd_, nullptr);
  std::lock_guard lock(mutex_);
  if (stopping_.load()) return;
  stopping_.store(true);
  // Out of the epoll set: this process accepts no more, its siblings do. The
  // descriptor stays open until the dispatcher goes, because a request thread
  // may be inside accept4() on it right now: closed under it, the number
  // could be handed to the next socket opened (ThreadSanitizer found this in
  // tests/unit/test_dispatcher.cc).
  // (A lost one cannot be taken out: see lose_listener. Its reports wake a
  // thread that accepts nothing, until this process exits.)
  if (!listener_lost_.load()) epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, listen_fd_.get(), nullptr);
  // Each keep-alive connection waiting for its next request. One with a
  // byte waiting (a request, or the frontend's close) stays and is served by
  // the thread its event wakes. One without is taken out of the epoll set
  // and looked at again: still nothing, it is let go, and no event of it can
  // be on its way to a thread (one taken from the set before the removal
  // means a byte that is still there), so its entry may go at once.
  std::vector<std::unique_ptr<Entry>> idle, rearm;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    Entry& entry = *it->second;
    int fd = entry.connection->fd();
    if (entry.owes_request() || input_waiting(fd)) {
      ++it;
      continue;
    }
    epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
    entry.registered = false;
    (input_waiting(fd) ? rearm : idle).push_back(std::move(it->second));
    it = waiting_.erase(it);
  }
  for (auto& entry : rearm) park_locked(std::move(entry));  // a request came just now
  let_go_locked(std::move(idle));
  // What the backlog holds now may have been announced to this process
  // alone (the listening socket is edge-triggered and EPOLLEXCLUSIVE: an
  // edge wakes one process, and one of ours that took it may have seen
  // stopping_ and not accepted). Left there, it would wait for a sibling to
  // be woken by some later connection, or for ever. So this process adopts
  // it and serves it before it exits; under the lock, so that wait_drained
  // counts it.
  while (true) {
    UniqueFd fd = accept_listening();
    if (!fd) {
      if (errno == EAGAIN) break;
      continue;  // EINTR, ECONNABORTED
    }
    // (admit() would take mutex_ again to make room: held here.)
    if (auto entry = admit_locked(std::move(fd))) park_locked(std::move(entry));
  }
  drained_.notify_all();
}

bool Dispatcher::wait_drained(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return drained_.wait_until(lock, deadline, [&] { return stopping_.load() && open_.load() == 0; });
}

void Dispatcher::release_threads() {
  gate_.close();  // the threads in reserve
  std::uint64_t one = 1;  // the listeners
  [[maybe_unused]] auto n = ::write(exit_event_fd_.get(), &one, sizeof one);
}

std::size_t Dispatcher::open_connections() { return open_.load(); }

}  // namespace wsgi_fpm::worker
