// deadlock-timeout, as mod_wsgi does it: a thread of its own takes the GIL
// once a second and says so (the scoreboard's gil_heartbeat_us). A Python
// thread that holds the GIL and never lets go (a C extension blocking inside
// it, a ctypes.PyDLL call that sleeps) stops the beat; the supervisor, which
// needs no GIL, sees the record grow old and replaces the process. A busy
// pure-Python loop does not: the interpreter hands the GIL over every
// switch-interval.
#pragma once

#include <Python.h>

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace wsgi_fpm::worker {

class GilHeartbeat {
 public:
  // `beat` runs after each time the GIL was taken (and released again);
  // `interpreter` says which interpreter to wait for it in (nullptr: the main
  // one).
  GilHeartbeat(std::function<void()> beat, std::function<PyInterpreterState*()> interpreter);
  // Stops and joins the thread; call before Python is finalized.
  ~GilHeartbeat();
  GilHeartbeat(const GilHeartbeat&) = delete;
  GilHeartbeat& operator=(const GilHeartbeat&) = delete;

  void stop();

 private:
  void run();

  std::function<void()> beat_;
  std::function<PyInterpreterState*()> interpreter_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace wsgi_fpm::worker
