#include "worker/gil_heartbeat.h"

#include <chrono>

#include "python/gil.h"
#include "python/runtime.h"

namespace wsgi_fpm::worker {

GilHeartbeat::GilHeartbeat(std::function<void()> beat, std::function<PyInterpreterState*()> interpreter)
    : beat_(std::move(beat)), interpreter_(std::move(interpreter)), thread_([this] { run(); }) {}

GilHeartbeat::~GilHeartbeat() { stop(); }

void GilHeartbeat::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void GilHeartbeat::run() {
  python::ThreadState state;  // one GIL for all interpreters in 3.11, a thread state in each
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    PyInterpreterState* interp = interpreter_();
    { python::GilHold gil(interp ? state.for_interpreter(interp) : state.get()); }
    beat_();
    lock.lock();
    wake_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
  }
}

}  // namespace wsgi_fpm::worker
