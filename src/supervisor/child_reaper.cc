#include "supervisor/child_reaper.h"

#include <dirent.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <set>
#include <thread>
#include <vector>

namespace wsgi_fpm::supervisor {
namespace {
// The pids of our children that a WorkerProcess will reap.
std::set<long> known_children;
bool subreaper = false;
}  // namespace

void track_child(long pid) { known_children.insert(pid); }
void untrack_child(long pid) { known_children.erase(pid); }

bool become_child_subreaper(std::string& error) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    error = std::string("prctl(PR_SET_CHILD_SUBREAPER): ") + std::strerror(errno);
    return false;
  }
  subreaper = true;
  return true;
}

bool is_child_subreaper() { return subreaper; }

namespace {

// Our children: from /proc/self/task/PID/children where the kernel has it
// (CONFIG_PROC_CHILDREN; the supervisor's one thread adopts the orphans),
// else every process of the host, whose parent is read below.
std::vector<long> candidate_children() {
  std::vector<long> out;
  long self = getpid();
  std::ifstream children("/proc/self/task/" + std::to_string(self) + "/children");
  if (children) {
    for (long pid; children >> pid;) out.push_back(pid);
    return out;
  }
  DIR* proc = opendir("/proc");
  if (!proc) return out;
  while (dirent* e = readdir(proc)) {
    char* end;
    long pid = std::strtol(e->d_name, &end, 10);
    if (!*end && pid > 0) out.push_back(pid);
  }
  closedir(proc);
  return out;
}

// A process's state letter and parent, from /proc/PID/stat; false if it is
// gone. (The name field may hold ") ", so the last ')' ends it.)
bool state_and_parent(long pid, char& state, long& parent) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 4 >= line.size()) return false;
  state = line[close + 2];
  parent = std::strtol(line.c_str() + close + 4, nullptr, 10);
  return true;
}

}  // namespace

bool reap_unknown_children() {
  // Every preload-fork pool's tick asks; once a second is enough for all
  // (1,000 pools each scanning /proc took a whole core).
  static std::set<long> suspects;  // unknown zombies seen by the last look
  static auto last = std::chrono::steady_clock::time_point();
  auto now = std::chrono::steady_clock::now();
  if (now - last < std::chrono::milliseconds(900)) return !suspects.empty();
  last = now;
  std::set<long> seen;
  long self = getpid();
  for (long pid : candidate_children()) {
    if (known_children.count(pid)) continue;
    char state;
    long parent;
    if (!state_and_parent(pid, state, parent) || parent != self || state != 'Z') continue;
    // Seen twice: not a forked worker whose pid is still on its way to us.
    if (suspects.count(pid))
      waitpid(static_cast<pid_t>(pid), nullptr, WNOHANG);
    else
      seen.insert(pid);
  }
  suspects = std::move(seen);
  return !suspects.empty();
}

void reap_remaining_children(std::chrono::milliseconds patience) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  bool killed = false;
  while (true) {
    pid_t pid = waitpid(-1, nullptr, WNOHANG);
    if (pid > 0) continue;
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) return;  // ECHILD: none left
    if (std::chrono::steady_clock::now() > deadline) {
      if (killed) return;
      long self = getpid();
      for (long child : candidate_children()) {
        char state;
        long parent;
        if (state_and_parent(child, state, parent) && parent == self) kill(static_cast<pid_t>(child), SIGKILL);
      }
      killed = true;
      deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace wsgi_fpm::supervisor
