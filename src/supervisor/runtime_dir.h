// The supervisor's runtime directory (runtime-dir): root-owned and closed to
// tenants, it holds the control socket, the default pool sockets and
// `supervisor.pid`, which the supervisor keeps locked (flock) for its whole
// life, stopping included. So:
//  - a second supervisor on the same directory refuses to start, naming the
//    first, even if the control socket was removed;
//  - a directory removed under a running supervisor (rm -rf, a tmpfiles
//    clean-up) is noticed at once through inotify (no polling) and made again,
//    lock and all, and the supervisor is told so it can bind its sockets anew.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "supervisor/uv_handle.h"
#include "util/fd.h"

namespace wsgi_fpm::supervisor {

class RuntimeDir {
 public:
  explicit RuntimeDir(uv_loop_t* loop) : loop_(loop) {}
  ~RuntimeDir();
  RuntimeDir(const RuntimeDir&) = delete;
  RuntimeDir& operator=(const RuntimeDir&) = delete;

  // Makes the directory if needed (0755; group and other write bits taken
  // off), checks it is the supervisor's user's, and takes the lock. False with
  // `error` ("another supervisor (pid 123) is running with /run/wsgi-fpm").
  bool open(const std::string& path, std::string& error);
  // Watches the directory: `changed` runs after anything in it changed, with
  // true if the directory itself had been removed and is now made again;
  // `lost` with why, if it could not be.
  void watch(std::function<void(bool recreated)> changed, std::function<void(const std::string&)> lost);
  // Stops watching. The lock is held until this object goes (the process
  // exits), so no supervisor starts on the directory while this one drains.
  void stop_watching();
  // True while the path still names the directory this supervisor locked.
  bool in_place() const;
  const std::string& path() const { return path_; }

 private:
  void on_change();
  void start_watch();
  void close_watch();
  void settle();
  static constexpr std::uint64_t kSettleMs = 300;

  uv_loop_t* loop_;
  std::string path_;
  UniqueFd lock_fd_;  // supervisor.pid, flocked
  dev_t device_ = 0;
  ino_t inode_ = 0;
  FsEvent watch_;
  Timer settle_timer_;
  std::function<void(bool)> changed_;
  std::function<void(const std::string&)> lost_;
};

}  // namespace wsgi_fpm::supervisor
