#include "worker/fork_template.h"

#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "python/gil.h"
#include "python/rehearsal.h"
#include "python/types.h"
#include "util/fd_passing.h"
#include "util/log.h"
#include "worker/privileges.h"
#include "wsgi_fpm/descriptors.h"
#include "wsgi_fpm/fork_request.h"
#include "wsgi_fpm/notify.h"
#include "wsgi_fpm/worker_exit.h"

namespace wsgi_fpm::worker {
namespace {

void reply(int command_fd, std::uint64_t id, std::int64_t pid) {
  ForkReply r{id, pid};
  // SOCK_SEQPACKET: one record, whole or not at all.
  while (send(command_fd, &r, sizeof r, MSG_NOSIGNAL) < 0 && errno == EINTR) {
  }
}

void close_all(const int* fds, int n) {
  for (int i = 0; i < n; ++i) close(fds[i]);
}

// Set in a forked worker until finish_adoption: its middle process and the
// supervisor that should adopt it.
pid_t g_middle = 0;
pid_t g_supervisor = 0;

// One fork request as read from a SOCK_SEQPACKET socket: from the
// supervisor, or passed on whole to a parked spare.
struct Request {
  ssize_t bytes = 0;  // < 0: recvmsg failed (errno); 0: the other end is gone
  ForkRequest header{};
  std::optional<CommandLine> command_line;  // a zygote's request
  int fds[kZygoteRequestFds];
  int fd_count = 0;
  bool well_formed = false;
};

Request receive_request(int socket, std::vector<char>& buffer, bool zygote) {
  Request r;
  iovec iov{buffer.data(), buffer.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kZygoteRequestFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  r.bytes = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  if (r.bytes <= 0) return r;
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
    r.fd_count = std::min(static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int)), kZygoteRequestFds);
    std::memcpy(r.fds, CMSG_DATA(c), sizeof(int) * static_cast<std::size_t>(r.fd_count));
  }
  const auto n = static_cast<std::size_t>(r.bytes);
  if (n >= sizeof r.header) std::memcpy(&r.header, buffer.data(), sizeof r.header);
  bool truncated = msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC);
  if (zygote && n >= sizeof r.header && !truncated)
    r.command_line = decode_command_line(std::string_view(buffer.data() + sizeof r.header, n - sizeof r.header));
  r.well_formed = !truncated && (zygote ? r.command_line.has_value() : n == sizeof r.header) &&
                  r.fd_count == (zygote ? kZygoteRequestFds : kForkRequestFds);
  return r;
}

// In the new worker: its own descriptors replace the template's (or the
// zygote's), and a zygote's request leaves its command line in `*zygote`.
void become_requested_worker(Request& request, Contract& contract, std::optional<CommandLine>* zygote) {
  int* fds = request.fds;
  dup2(fds[0], 1);
  dup2(fds[1], 2);
  close_all(fds, 2);
  contract.replace(kScoreboardFd, fds[2]);
  contract.replace(kNotifyFd, fds[3]);
  contract.close(kForkCommandFd);
  if (zygote && (request.header.flags & kForkTemplate)) {
    contract.replace(kForkCommandFd, fds[4]);  // a template: its own fork requests
  } else {
    contract.replace(kHandoffFd, fds[4]);
  }
  if (zygote) {
    contract.replace(kListenFd, fds[5]);
    *zygote = std::move(request.command_line);
  }
}

// The spare: a worker forked ahead of the request that will make it one, and
// parked. A cold tenant then waits for no fork (two of them, 2.5 ms here)
// and finds the pages a new process writes first already copied (docs/design.md,
// "the parked spare"). Forked twice over like any worker, so it is the
// supervisor's child while it waits; being nobody's worker yet, it is root
// in a zygote and runs nothing but the zygote's own code until a request
// gives it a pool, whose user it then becomes as a freshly forked worker
// does. It leaves when the zygote or template does (its socket closes), or
// with the supervisor.
struct Spare {
  pid_t pid = 0;
  int socket = -1;  // ours; the spare waits on the other end
};

constexpr int kSpareDelayMs = 30;

// Waits, in the spare, for the request it is parked for; exits when its
// maker is gone.
Request wait_as_spare(int socket, std::vector<char>& buffer, bool zygote) {
  finish_adoption();
  // Parked, it has no request to drain, and its stop signals are blocked:
  // the supervisor's death ends it outright.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != g_supervisor) std::_Exit(worker_exit::kStopped);
  // Asked already (a burst): the rehearsal would only delay that request.
  pollfd asked{socket, POLLIN, 0};
  if (poll(&asked, 1, 0) == 0) python::rehearse_request();
  while (true) {
    Request r = receive_request(socket, buffer, zygote);
    if (r.bytes < 0 && errno == EINTR) continue;
    if (r.bytes <= 0 || !r.well_formed) std::_Exit(worker_exit::kStopped);  // the zygote or template is gone
    close(socket);
    // A worker now, that drains its requests when the supervisor dies.
    std::string error;
    if (!arrange_to_die_with_supervisor(g_supervisor, error)) std::_Exit(worker_exit::kCannotSetUp);
    return r;
  }
}

// What a pool's tenant code must not find in its worker: the maker's own
// descriptors.
void drop_makers_descriptors(Contract& contract, int signals) {
  contract.close(kForkCommandFd);
  close(signals);
}

}  // namespace

void serve_fork_requests(pid_t supervisor_pid, PyThreadState* main_state, Contract& contract,
                         const std::function<void()>& on_parked, std::optional<CommandLine>* zygote) {
  const int command_fd = contract.fd(kForkCommandFd);
  // A template's requests are the header alone; a zygote's carry a command line.
  std::vector<char> buffer(sizeof(ForkRequest) + (zygote ? kCommandLineMaxBytes : 0));
  // The stop signals are blocked (main.cc); take them here so that SIGTERM
  // ends the template, which has no request to drain.
  sigset_t stop_signals;
  pthread_sigmask(SIG_BLOCK, nullptr, &stop_signals);
  int signals = keep_high(signalfd(-1, &stop_signals, SFD_CLOEXEC));
  if (signals < 0) {
    log::error("template: signalfd: {}", std::strerror(errno));
    std::_Exit(worker_exit::kInternalError);
  }
  {
    // What the workers inherit should stay shared: gc.freeze() keeps their
    // collections from writing to every imported object (which would copy
    // its page), as Python's gc documentation advises before fork(); and
    // free heap goes back to the kernel rather than into every worker.
    python::GilHold gil(main_state);
    if (PyObject* gc = PyImport_ImportModule("gc")) {
      Py_XDECREF(PyObject_CallMethod(gc, "freeze", nullptr));
      Py_DECREF(gc);
    }
    PyErr_Clear();
  }
  malloc_trim(0);
  // "ready": the apps are imported; the supervisor may ask for workers.
  const std::string ready = NotifyMessage{NotifyMessage::Kind::Ready, {}}.encode();
  if (write(contract.fd(kNotifyFd), ready.data(), ready.size()) < 0) std::_Exit(worker_exit::kStopped);

  // Forks a worker: twice over, the middle process replying with the
  // worker's pid (to the supervisor's request `reply_id`; or, for a spare,
  // on `spare_pair` to us). Returns true in the new worker, with the
  // GIL let go; false here, with -errno in `*failed` if no middle was made.
  auto fork_worker = [&](std::uint64_t reply_id, const int* spare_pair, int* failed) {
    std::fflush(nullptr);  // nothing buffered may be written twice
    python::GilHold gil(main_state);
    PyOS_BeforeFork();
    pid_t middle = fork();
    if (middle == 0) {
      pid_t self = getpid();
      pid_t worker = fork();
      if (worker != 0) {
        std::int64_t result = worker > 0 ? worker : -errno;
        if (spare_pair)
          (void)!send(spare_pair[1], &result, sizeof result, MSG_NOSIGNAL);
        else
          reply(command_fd, reply_id, result);
        std::_Exit(worker_exit::kStopped);
      }
      PyOS_AfterFork_Child();
      python::forget_types_after_fork();
      g_middle = self;
      g_supervisor = supervisor_pid;
      return true;  // GilHold lets go of the GIL on the way out
    }
    int fork_errno = errno;
    PyOS_AfterFork_Parent();
    if (middle < 0) {
      *failed = -fork_errno;
      return false;
    }
    *failed = 0;
    while (waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
    }
    return false;
  };

  Spare spare;
  // When to park the next spare: a little after "ready" and after a request
  // took one, so that its fork does not hold up the request that may follow
  // at once (the first worker of a template just started) nor take the CPU
  // the new worker wants for its start; later still after one died unasked.
  auto park_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSpareDelayMs);
  auto park_spare = [&]() -> bool {
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
      park_at = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      return false;
    }
    int failed = 0;
    if (fork_worker(0, pair, &failed)) {
      close(pair[0]);
      drop_makers_descriptors(contract, signals);
      if (on_parked) on_parked();
      Request r = wait_as_spare(pair[1], buffer, zygote != nullptr);
      become_requested_worker(r, contract, zygote);
      return true;
    }
    close(pair[1]);
    std::int64_t pid = 0;
    if (failed == 0 && recv(pair[0], &pid, sizeof pid, MSG_DONTWAIT) == sizeof pid && pid > 0) {
      spare = {static_cast<pid_t>(pid), pair[0]};
    } else {
      close(pair[0]);
      park_at = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    return false;
  };

  while (true) {
    int timeout_ms = -1;
    if (!spare.pid) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(park_at - std::chrono::steady_clock::now());
      if (wait.count() <= 0) {
        if (park_spare()) return;  // in the spare, given its request
        continue;
      }
      timeout_ms = static_cast<int>(wait.count()) + 1;
    }
    pollfd watch[3] = {{command_fd, POLLIN, 0}, {signals, POLLIN, 0}, {spare.socket, POLLIN, 0}};
    if (poll(watch, spare.pid ? 3 : 2, timeout_ms) < 0) {
      if (errno == EINTR) continue;
      std::_Exit(worker_exit::kInternalError);
    }
    if (watch[1].revents) std::_Exit(worker_exit::kStopped);
    if (spare.pid && watch[2].revents) {
      // The spare is gone (killed, say): another, later.
      close(spare.socket);
      spare = {};
      park_at = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    if (!watch[0].revents) continue;

    Request request = receive_request(command_fd, buffer, zygote != nullptr);
    if (request.bytes < 0 && errno == EINTR) continue;
    if (request.bytes <= 0) std::_Exit(worker_exit::kStopped);  // the supervisor closed the socket: we are done
    if (!request.well_formed) {
      close_all(request.fds, request.fd_count);
      reply(command_fd, request.header.id, -EPROTO);
      continue;
    }

    if (spare.pid) {
      // Pass the request on whole: the spare becomes the worker. (Its queue
      // is empty, so the send cannot find it full.)
      bool sent = send_fds(spare.socket, buffer.data(), static_cast<std::size_t>(request.bytes), request.fds,
                           static_cast<std::size_t>(request.fd_count));
      pid_t taken = spare.pid;
      close(spare.socket);
      spare = {};
      park_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(kSpareDelayMs);
      if (sent) {
        close_all(request.fds, request.fd_count);
        reply(command_fd, request.header.id, taken);
        continue;
      }
      // The spare died meanwhile: fork as if there had been none.
    }
    int failed = 0;
    if (fork_worker(request.header.id, nullptr, &failed)) {
      drop_makers_descriptors(contract, signals);
      become_requested_worker(request, contract, zygote);
      return;
    }
    close_all(request.fds, request.fd_count);
    if (failed) reply(command_fd, request.header.id, failed);
  }
}

bool adoption_pending() { return g_middle != 0; }

void finish_adoption() {
  if (!g_middle) return;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (getppid() == g_middle && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  g_middle = 0;
  std::string error;
  if (!arrange_to_die_with_supervisor(g_supervisor, error)) {
    log::error("a forked worker was not adopted by the supervisor (pid {}, parent {}): {}; exiting", g_supervisor,
               getppid(), error);
    std::_Exit(worker_exit::kCannotSetUp);
  }
}

}  // namespace wsgi_fpm::worker
