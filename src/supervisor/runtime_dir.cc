#include "supervisor/runtime_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace wsgi_fpm::supervisor {
namespace {

constexpr const char* kPidFile = "supervisor.pid";

bool prepare(const std::string& dir, std::string& error) {
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    error = "mkdir " + dir + ": " + std::strerror(errno);
    return false;
  }
  struct stat st;
  if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    error = dir + " is not a directory";
    return false;
  }
  if (st.st_uid != geteuid()) {
    error = dir + " is owned by uid " + std::to_string(st.st_uid) + ", not by the supervisor's user";
    return false;
  }
  if ((st.st_mode & 0022) != 0 && chmod(dir.c_str(), st.st_mode & ~0022 & 07777) != 0) {
    error = "chmod " + dir + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

}  // namespace

RuntimeDir::~RuntimeDir() {
  stop_watching();
  // The pid file goes with the supervisor (if it is still the one it wrote);
  // the lock goes when the descriptor closes.
  struct stat mine, there;
  if (lock_fd_ && in_place() && fstat(lock_fd_.get(), &mine) == 0 &&
      lstat((path_ + "/" + kPidFile).c_str(), &there) == 0 && mine.st_ino == there.st_ino && mine.st_dev == there.st_dev)
    unlink((path_ + "/" + kPidFile).c_str());
}

bool RuntimeDir::open(const std::string& path, std::string& error) {
  if (!prepare(path, error)) return false;
  UniqueFd dir(::open(path.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  UniqueFd lock(dir ? openat(dir.get(), kPidFile, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644) : -1);
  if (!lock) {
    error = path + "/" + kPidFile + ": " + std::strerror(errno);
    return false;
  }
  if (flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    char pid[32] = {};
    [[maybe_unused]] auto n = pread(lock.get(), pid, sizeof pid - 1, 0);
    std::string holder = pid[0] ? std::string(pid, strcspn(pid, "\n")) : "?";
    error = "another supervisor (pid " + holder + ") is running with " + path;
    return false;
  }
  std::string text = std::to_string(getpid()) + "\n";
  if (ftruncate(lock.get(), 0) != 0 || pwrite(lock.get(), text.data(), text.size(), 0) < 0) {
    error = path + "/" + kPidFile + ": " + std::strerror(errno);
    return false;
  }
  struct stat st;
  fstat(dir.get(), &st);
  path_ = path;
  device_ = st.st_dev;
  inode_ = st.st_ino;
  lock_fd_ = std::move(lock);
  return true;
}

bool RuntimeDir::in_place() const {
  struct stat st;
  return lstat(path_.c_str(), &st) == 0 && st.st_dev == device_ && st.st_ino == inode_;
}

void RuntimeDir::watch(std::function<void(bool)> changed, std::function<void(const std::string&)> lost) {
  changed_ = std::move(changed);
  lost_ = std::move(lost);
  start_watch();
}

void RuntimeDir::start_watch() {
  int rc = watch_.open(loop_) ? watch_.start(path_.c_str(), [this] { settle(); }) : UV_ENOMEM;
  if (rc != 0 && lost_) lost_("cannot watch " + path_ + ": " + uv_strerror(rc));
  // The loop may end while only this watch is left.
  watch_.unref();
}

// Looks only once the directory has been quiet for a moment: someone
// removing it (rm -rf, a tmpfiles clean-up) deletes the entries first, and a
// control socket bound again in between would make their rmdir fail.
void RuntimeDir::settle() {
  if (!settle_timer_) {
    settle_timer_.open(loop_);
    settle_timer_.unref();
  }
  settle_timer_.start(kSettleMs, 0, [this] { on_change(); });
}

void RuntimeDir::stop_watching() {
  settle_timer_.close();
  close_watch();
}

void RuntimeDir::close_watch() { watch_.close(); }

// Any change inside the directory lands here (sockets bound or removed):
// cheap to tell from its removal, which is rare.
void RuntimeDir::on_change() {
  if (in_place()) {
    if (changed_) changed_(false);
    return;
  }
  close_watch();  // it watched the directory that is gone
  std::string error;
  UniqueFd old = std::move(lock_fd_);  // the new directory gets a lock of its own
  if (!open(path_, error)) {
    lock_fd_ = std::move(old);
    if (lost_) lost_(path_ + " was removed and cannot be made again: " + error);
    return;
  }
  start_watch();
  if (changed_) changed_(true);
}

}  // namespace wsgi_fpm::supervisor
