// The Dispatcher (dispatcher.h): its epoll set, the request threads' loop,
// and the connections it serves and parks in the epoll set between requests,
// with the request-read-timeout of those that wait for a request head. The
// listening socket is in dispatcher_listener.cc, stopping in
// dispatcher_stop.cc.
#include "worker/dispatcher.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "util/log.h"
#include "util/socket.h"
#include "worker/dispatcher_internal.h"
#include "wsgi_fpm/worker_exit.h"

namespace wsgi_fpm::worker {

using dispatcher_internal::input_waiting;

namespace {
// Tags for the non-connection members of the epoll set.
int g_listen_tag;
int g_exit_tag;
int g_expiry_tag;
int g_watch_tag;

// Waits up to `ms` for input on `fd`; false when none came.
bool wait_readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  int n;
  do n = ::poll(&p, 1, ms);
  while (n < 0 && errno == EINTR);
  return n > 0;
}

// Reads a head for up to `grace`, in this thread: Pending when it is still
// not all there.
Connection::HeadResult read_head_within(Connection& conn, std::chrono::milliseconds grace) {
  auto until = std::chrono::steady_clock::now() + grace;
  auto head = conn.read_head();
  while (head == Connection::HeadResult::Pending) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !wait_readable(conn.fd(), static_cast<int>(left.count()))) break;
    head = conn.read_head();
  }
  return head;
}
}  // namespace

Dispatcher::Dispatcher(int listen_fd, ConnectionFactory factory, DispatcherLimits limits)
    : listen_fd_(listen_fd),
      listen_identity_(listen_fd),
      // Kept high, out of the numbers an app's os.close(N) reaches (contract.h).
      epoll_fd_(keep_high(epoll_create1(EPOLL_CLOEXEC))),
      exit_event_fd_(keep_high(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK))),
      expiry_timer_fd_(keep_high(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK))),
      factory_(std::move(factory)),
      limits_(limits) {
  // Non-blocking so that a thread woken for a connection a sibling process
  // took already gets EAGAIN instead of sleeping in accept().
  set_nonblocking(listen_fd_.get(), true);
  set_cloexec(listen_fd_.get(), true);
  // EPOLLEXCLUSIVE: a new connection wakes one waiting thread of one
  // process, not one in every sibling (the thundering herd), and needs no
  // re-arming after each accept. EPOLLET: level-triggered, each report of
  // the listening socket would put it back on the ready list and wake a
  // second thread of this process, which mostly finds the backlog already
  // empty (a wasted context switch per connection, measured: 1.5 switches
  // per request instead of 1). Edge-triggered, the thread that gets the
  // report must empty the backlog itself: see accept_burst.
  // Without these the process cannot serve at all: it exits, and the
  // supervisor's backoff and log take it from there.
  auto required = [](bool ok, const char* what) {
    if (ok) return;
    log::error("cannot set up the dispatcher: {}: {}", what, std::strerror(errno));
    std::_Exit(worker_exit::kCannotSetUp);
  };
  required(epoll_fd_ && exit_event_fd_ && expiry_timer_fd_, "epoll_create1, eventfd or timerfd_create");
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLET | EPOLLEXCLUSIVE;
  ev.data.ptr = &g_listen_tag;
  required(epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, listen_fd_.get(), &ev) == 0, "epoll_ctl(listening socket)");
  // Level-triggered and never read: once set, it wakes every thread in turn.
  ev.events = EPOLLIN;
  ev.data.ptr = &g_exit_tag;
  required(epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, exit_event_fd_.get(), &ev) == 0, "epoll_ctl(eventfd)");
  // Disarmed while no waiting connection has a deadline: idle costs nothing.
  ev.data.ptr = &g_expiry_tag;
  required(epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, expiry_timer_fd_.get(), &ev) == 0, "epoll_ctl(timerfd)");
}

Dispatcher::~Dispatcher() {
  // Lost, its number is not ours to close: it may be an app's file by now.
  if (listener_lost_.load()) (void)listen_fd_.release();
}

void Dispatcher::run_thread(const RequestHandler& handler) {
  ListenerGate::Seat& seat = gate_.join();
  while (gate_.wait_turn()) {
    // This thread listens for the process now.
    if (backlog_pending_.load(std::memory_order_relaxed) && backlog_pending_.exchange(false)) {
      gate_.start_serving(seat);
      accept_burst(handler);
      gate_.stop_serving(seat);
      continue;
    }
    epoll_event ev;
    int n;
    do {
      waiting_threads_.fetch_add(1, std::memory_order_relaxed);
      n = epoll_wait(epoll_fd_.get(), &ev, 1, -1);
      waiting_threads_.fetch_sub(1, std::memory_order_relaxed);
    } while (n == 0 || (n < 0 && errno == EINTR));
    if (n < 0) {
      log::error("epoll_wait: {}", std::strerror(errno));
      gate_.resign();
      return;
    }
    if (ev.data.ptr == &g_exit_tag) return;
    gate_.start_serving(seat);
    if (ev.data.ptr == &g_expiry_tag) {
      expire_overdue();
    } else if (ev.data.ptr == &g_listen_tag) {
      accept_burst(handler);
    } else if (ev.data.ptr == &g_watch_tag) {
      if (!on_watched_()) epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, watched_fd_, nullptr);
    } else {
      // A waiting connection is readable: this thread takes it out of the
      // waiting set and owns it while it serves.
      std::unique_ptr<Entry> entry;
      {
        std::lock_guard lock(mutex_);
        auto it = waiting_.find(static_cast<Entry*>(ev.data.ptr));
        if (it != waiting_.end()) {
          entry = std::move(it->second);
          waiting_.erase(it);
        }
      }
      if (entry) serve(std::move(entry), handler);
    }
    gate_.stop_serving(seat);
  }
}

void Dispatcher::serve(std::unique_ptr<Entry> entry, const RequestHandler& handler) {
  Connection& conn = *entry->connection;
  while (true) {
    // A new connection's first head gets first_head_grace in this thread.
    // Frontends send the request with the connect (nginx and mod_proxy_fcgi
    // write it straight after connect() returns), so a head not yet here is
    // a scheduling gap, not a slow client. Parked at once, the connection
    // left this thread free to take more from the backlog (or to draw the
    // next connection's exclusive wake-up): a one-thread process then held
    // two requests and served one behind the other while a sibling idled
    // (issue 14; test_process_manager's dynamic story failed 1 run in 4 to
    // 13). Short, so that a silent connection still costs next to nothing.
    Connection::HeadResult head;
    if (entry->fresh && !entry->graced) {
      entry->graced = true;
      head = read_head_within(conn, limits_.first_head_grace);
    } else {
      head = conn.read_head();
    }
    // Wait for the rest in the epoll set, not in this thread (park_locked
    // gives it its request-read-timeout).
    if (head == Connection::HeadResult::Pending) return park(std::move(entry));
    if (head != Connection::HeadResult::Ready) return close(std::move(entry));
    entry->fresh = false;
    entry->deadline.reset();
    handler(conn);
    if (!conn.finish_request()) return close(std::move(entry));
    if (!conn.has_buffered_input()) break;  // else: the next request is already here
  }
  park(std::move(entry));
}

void Dispatcher::park(std::unique_ptr<Entry> entry) {
  std::lock_guard lock(mutex_);
  // Stopping, a keep-alive connection with no request waiting goes; one with
  // a request waiting is served here, and one accepted but not yet served,
  // or with part of a request head read, waits for its request all the same
  // (the frontend sent it to us).
  if (stopping_.load() && !entry->owes_request() && !input_waiting(entry->connection->fd())) {
    // Its one-shot event was taken by this thread: out of the set, it cannot
    // fire for an entry about to go.
    if (entry->registered) epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, entry->connection->fd(), nullptr);
    std::vector<std::unique_ptr<Entry>> idle;
    idle.push_back(std::move(entry));
    return let_go_locked(std::move(idle));
  }
  park_locked(std::move(entry));
}

void Dispatcher::adopt(UniqueFd fd) {
  set_nonblocking(fd.get(), true);  // it is already (the flag is the socket's): to be sure
  auto entry = admit(std::move(fd));
  if (!entry) return;
  // It has served requests, elsewhere: idle between two, it owes none and
  // has no request-read-timeout until the next one begins.
  entry->fresh = false;
  park(std::move(entry));
}

void Dispatcher::watch(int fd, std::function<bool()> on_readable) {
  on_watched_ = std::move(on_readable);
  watched_fd_ = fd;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &g_watch_tag;
  if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    // Connections handed over to this process then stay unread in the
    // socket (the supervisor closes them with it): serving goes on.
    log::warning("cannot watch the handoff socket: {}", std::strerror(errno));
    on_watched_ = nullptr;
  }
}

void Dispatcher::park_locked(std::unique_ptr<Entry> entry) {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.ptr = entry.get();
  // Under the lock: the event may fire at once, and the thread it wakes
  // must find the entry in waiting_.
  if (epoll_ctl(epoll_fd_.get(), entry->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, entry->connection->fd(), &ev) != 0) {
    // ENOMEM, or the user's max_user_watches reached: no thread would ever
    // hear of this connection, so it closes now rather than hang.
    log::warning("cannot wait for a connection's request (epoll_ctl: {}): closing it", std::strerror(errno));
    return close_locked(std::move(entry));
  }
  entry->registered = true;
  auto now = std::chrono::steady_clock::now();
  entry->parked_at = now;
  // request-read-timeout runs from when a connection that owes a request
  // first waits (just after its accept, or at its head's first byte); an
  // idle keep-alive connection owes none. Set here alone, so a connection
  // served at once (the common case) never reads the clock for it.
  if (!entry->owes_request()) entry->deadline.reset();
  else if (!entry->deadline) entry->deadline = now + limits_.request_read_timeout;
  if (entry->deadline && !expiry_armed_) arm_expiry_locked();
  Entry* raw = entry.get();
  waiting_.emplace(raw, std::move(entry));
}

void Dispatcher::arm_expiry_locked() {
  // A tick a quarter of the timeout (at most a second): a connection is
  // closed within 25% past its deadline, and the timer runs only while one
  // waits for its head.
  auto tick = std::min<std::chrono::milliseconds>(limits_.request_read_timeout / 4, std::chrono::seconds(1));
  tick = std::max<std::chrono::milliseconds>(tick, std::chrono::milliseconds(10));
  itimerspec spec{};
  spec.it_interval.tv_sec = tick.count() / 1000;
  spec.it_interval.tv_nsec = (tick.count() % 1000) * 1000000;
  spec.it_value = spec.it_interval;
  timerfd_settime(expiry_timer_fd_.get(), 0, &spec, nullptr);
  expiry_armed_ = true;
}

void Dispatcher::expire_overdue() {
  std::uint64_t ticks;
  [[maybe_unused]] auto n = ::read(expiry_timer_fd_.get(), &ticks, sizeof ticks);
  auto now = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<Entry>> overdue;
  {
    std::lock_guard lock(mutex_);
    bool any_deadline = false;
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->second->deadline && *it->second->deadline <= now) {
        overdue.push_back(std::move(it->second));
        it = waiting_.erase(it);
        continue;
      }
      any_deadline = any_deadline || it->second->deadline.has_value();
      ++it;
    }
    if (!any_deadline) {
      itimerspec off{};
      timerfd_settime(expiry_timer_fd_.get(), 0, &off, nullptr);
      expiry_armed_ = false;
    }
  }
  for (auto& entry : overdue) {
    log::warning("closing a connection: {} within request-read-timeout ({} ms)",
                 entry->connection->head_begun() ? "its request head did not all come" : "no request came",
                 limits_.request_read_timeout.count());
    close(std::move(entry));
  }
}

void Dispatcher::close(std::unique_ptr<Entry> entry) {
  // Closing the socket takes it out of the epoll set too (no other
  // descriptor refers to it).
  entry.reset();
  if (open_.fetch_sub(1) == 1 && stopping_.load()) {
    std::lock_guard lock(mutex_);
    drained_.notify_all();
  }
}

void Dispatcher::close_locked(std::unique_ptr<Entry> entry) {
  entry.reset();
  if (open_.fetch_sub(1) == 1 && stopping_.load()) drained_.notify_all();
}

}  // namespace wsgi_fpm::worker
