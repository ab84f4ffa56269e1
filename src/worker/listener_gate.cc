#include "worker/listener_gate.h"

#include <algorithm>

namespace wsgi_fpm::worker {

namespace {
// Ticks with no request running before the promoter sleeps: long enough
// that a steady load never pays for waking it.
constexpr int kQuietTicks = 100;
}  // namespace

ListenerGate::ListenerGate(std::chrono::microseconds tick) : tick_(tick) {}

ListenerGate::~ListenerGate() {
  close();
  if (promoter_.joinable()) promoter_.join();
}

ListenerGate::Seat& ListenerGate::join() {
  std::lock_guard lock(mutex_);
  Seat& seat = seats_.emplace_back();
  // One thread never needs promoting.
  if (seats_.size() == 2 && !closed_.load()) promoter_ = std::thread([this] { promote_loop(); });
  return seat;
}

bool ListenerGate::wait_turn() {
  int none = 0;
  if (listeners_.compare_exchange_strong(none, 1)) {
    // A close() after this look is seen by the listener: release_threads
    // wakes the epoll set as well.
    if (!closed_.load()) return true;
    listeners_.fetch_sub(1);
    return false;
  }
  // Requests are blocking: every thread may listen, as many as they are.
  if (blocking_.load()) {
    listeners_.fetch_add(1);
    return true;
  }
  std::unique_lock lock(mutex_);
  ++reserves_;
  reserve_cv_.wait(lock, [&] { return closed_.load() || promotions_ > 0; });
  --reserves_;
  if (closed_.load()) return false;
  --promotions_;
  listeners_.fetch_add(1);
  return true;
}

void ListenerGate::start_serving(Seat& seat) {
  listeners_.fetch_sub(1);
  seat.requests.fetch_add(1, std::memory_order_relaxed);
  // Sequentially consistent with the promoter's store to promoter_asleep_
  // and its look at `serving`: one of the two sees the other.
  seat.serving.store(true);
  if (promoter_asleep_.load()) {
    std::lock_guard lock(mutex_);
    promoter_cv_.notify_one();
  }
}

void ListenerGate::close() {
  std::lock_guard lock(mutex_);
  closed_.store(true);
  reserve_cv_.notify_all();
  promoter_cv_.notify_all();
}

int ListenerGate::reserves() {
  std::lock_guard lock(mutex_);
  return reserves_;
}

bool ListenerGate::any_serving() {
  for (auto& seat : seats_)
    if (seat.serving.load()) return true;
  return false;
}

void ListenerGate::promote_loop() {
  std::unique_lock lock(mutex_);
  int quiet_ticks = 0;
  while (!closed_.load()) {
    if (quiet_ticks >= kQuietTicks) {
      blocking_.store(false);
      promoter_asleep_.store(true);
      promoter_cv_.wait(lock, [&] { return closed_.load() || any_serving(); });
      promoter_asleep_.store(false);
      quiet_ticks = 0;
      continue;
    }
    promoter_cv_.wait_for(lock, tick_, [&] { return closed_.load(); });
    if (closed_.load()) break;
    bool serving = false;
    int held = 0;  // threads at the same request since the last tick
    for (auto& seat : seats_) {
      auto taken = seat.requests.load(std::memory_order_relaxed);
      if (seat.serving.load(std::memory_order_relaxed)) {
        serving = true;
        if (taken == seat.seen) ++held;
      }
      seat.seen = taken;
    }
    quiet_ticks = serving ? 0 : quiet_ticks + 1;
    blocking_.store(held > 0);
    // Each held thread lends its place to a reserve one.
    if (held > 0 && listeners_.load() == 0) {
      for (int n = std::min(held, reserves_ - promotions_); n > 0; --n) {
        ++promotions_;
        reserve_cv_.notify_one();
      }
    }
  }
}

}  // namespace wsgi_fpm::worker
