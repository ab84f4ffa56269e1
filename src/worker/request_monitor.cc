#include "worker/request_monitor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "util/log.h"

namespace wsgi_fpm::worker {

RequestMonitor::RequestMonitor(int threads, int request_timeout, int interrupt_timeout, Actions actions)
    : timeout_(request_timeout * (1.0 + std::log(std::max(threads, 1)))),
      interrupt_timeout_(interrupt_timeout),
      actions_(std::move(actions)),
      slots_(std::make_unique<Slot[]>(static_cast<std::size_t>(std::max(threads, 1)))),
      slot_count_(static_cast<std::size_t>(std::max(threads, 1))),
      watches_(slot_count_) {}

std::int64_t RequestMonitor::now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

void RequestMonitor::started(int slot, unsigned long ident, std::string_view method, std::string_view uri) {
  if (!enabled()) return;
  Slot& s = slots_[static_cast<std::size_t>(slot)];
  std::uint64_t sequence = s.sequence.load(std::memory_order_relaxed);  // only this thread writes it
  s.sequence.store(sequence + 1, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  char text[kLabelBytes] = {};
  std::size_t length = std::min(method.size(), kLabelBytes);
  std::memcpy(text, method.data(), length);
  if (length < kLabelBytes) text[length++] = ' ';
  std::size_t take = std::min(uri.size(), kLabelBytes - length);
  std::memcpy(text + length, uri.data(), take);
  length += take;
  for (std::size_t w = 0; w * 8 < length; ++w) {
    std::uint64_t word;
    std::memcpy(&word, text + w * 8, 8);
    s.label[w].store(word, std::memory_order_relaxed);
  }
  s.label_length.store(static_cast<std::uint32_t>(length), std::memory_order_relaxed);
  s.ident.store(ident, std::memory_order_relaxed);
  s.sequence.store(sequence + 2, std::memory_order_release);
  // seq_cst pairs with run()'s idle_wait_ store then slot scan: either this
  // thread sees the monitor asleep and wakes it, or the monitor sees this
  // request before it sleeps.
  s.started_ns.store(now_ns(), std::memory_order_seq_cst);
  if (idle_wait_.load(std::memory_order_seq_cst)) {
    std::lock_guard lock(mutex_);
    woken_ = true;
    wake_.notify_one();
  }
}

void RequestMonitor::finished(int slot) {
  if (!enabled()) return;
  slots_[static_cast<std::size_t>(slot)].started_ns.store(0, std::memory_order_release);
}

void RequestMonitor::stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  wake_.notify_one();
}

// The start of the request a slot runs, with its sequence; started_ns 0 when
// it runs none or is between two (a sequence read twice the same, so the
// start belongs to that request and not to the one before or after it).
RequestMonitor::Running RequestMonitor::running(std::size_t slot) const {
  const Slot& s = slots_[slot];
  std::uint64_t before = s.sequence.load(std::memory_order_acquire);
  std::int64_t start = s.started_ns.load(std::memory_order_acquire);
  std::uint64_t after = s.sequence.load(std::memory_order_relaxed);
  if (before % 2 == 1 || before != after) return {0, after};
  return {start, before};
}

std::string RequestMonitor::label_of(std::size_t slot, std::uint64_t sequence) const {
  const Slot& s = slots_[slot];
  if (s.sequence.load(std::memory_order_acquire) != sequence) return "a request that has just ended";
  std::size_t length = std::min<std::size_t>(s.label_length.load(std::memory_order_relaxed), kLabelBytes);
  char text[kLabelBytes];
  for (std::size_t w = 0; w * 8 < length; ++w) {
    std::uint64_t word = s.label[w].load(std::memory_order_relaxed);
    std::memcpy(text + w * 8, &word, 8);
  }
  std::atomic_thread_fence(std::memory_order_acquire);
  if (s.sequence.load(std::memory_order_relaxed) != sequence) return "a request that has just ended";
  return std::string(text, length);
}

bool RequestMonitor::any_running() const {
  for (std::size_t i = 0; i < slot_count_; ++i) {
    if (slots_[i].started_ns.load(std::memory_order_seq_cst) != 0) return true;
  }
  return false;
}

void RequestMonitor::run() {
  if (!enabled()) return;
  auto timeout_ns = static_cast<std::int64_t>(timeout_.count() * 1e9);
  while (true) {
    if (!any_running()) {
      // Sleep until a request starts; started() wakes us only in this state.
      std::unique_lock lock(mutex_);
      idle_wait_.store(true, std::memory_order_seq_cst);
      if (!stopping_ && !any_running()) wake_.wait(lock, [&] { return stopping_ || woken_; });
      woken_ = false;
      idle_wait_.store(false, std::memory_order_relaxed);
      if (stopping_) return;
      continue;
    }
    // Sleep until the oldest request could time out (or a second, at most,
    // so that an interrupted one is watched and new ones are seen).
    std::int64_t now = now_ns();
    std::int64_t next = now + 1'000'000'000;
    for (std::size_t i = 0; i < slot_count_; ++i) {
      Running r = running(i);
      if (r.started_ns == 0) continue;
      bool reported = watches_[i].sequence == r.sequence && watches_[i].reported;
      if (!reported) next = std::min(next, r.started_ns + timeout_ns);
    }
    next = std::max(next, now + 10'000'000);
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_until(lock, Clock::time_point(std::chrono::nanoseconds(next)), [&] { return stopping_; })) return;
    }
    now = now_ns();
    for (std::size_t i = 0; i < slot_count_; ++i) {
      Running r = running(i);
      if (r.started_ns == 0) continue;
      Watch& w = watches_[i];
      if (w.sequence != r.sequence) w = Watch{r.sequence};
      double ran = static_cast<double>(now - r.started_ns) / 1e9;
      if (!w.reported && ran >= timeout_.count()) {
        w.reported = true;
        unsigned long ident = slots_[i].ident.load(std::memory_order_relaxed);
        std::string label = label_of(i, r.sequence);
        std::string stack = actions_.stack_of ? actions_.stack_of(ident) : std::string();
        log::write_lines(log::Level::Error,
                         fmt::format("{}: running {:.1f} s, past request-timeout ({:.1f} s with {} threads); "
                                     "Python stack of its thread:\n{}",
                                     label, ran, timeout_.count(), slot_count_,
                                     stack.empty() ? "  (no Python frame: blocked in C code)" : stack));
        bool interrupted = false;
        if (interrupt_timeout_.count() > 0 && actions_.interrupt) {
          interrupted = actions_.interrupt(static_cast<int>(i), ident);
          if (interrupted) log::warning("{}: RequestTimeout raised in its thread", label);
        }
        Running still = running(i);
        if (interrupted && still.started_ns != 0 && still.sequence == r.sequence) {
          w.interrupted = true;
          w.interrupted_at = Clock::now();
        } else if (!interrupted && !retired_) {
          retired_ = true;
          if (actions_.retire) actions_.retire("request-timeout");
        }
      } else if (w.interrupted && Clock::now() - w.interrupted_at >= interrupt_timeout_ && !retired_) {
        // RequestTimeout did not end it (a C call that never returns to Python).
        retired_ = true;
        log::error("{}: still running interrupt-timeout after RequestTimeout; replacing the process",
                   label_of(i, r.sequence));
        if (actions_.retire) actions_.retire("request-timeout");
      }
    }
  }
}

}  // namespace wsgi_fpm::worker
