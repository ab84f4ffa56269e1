#include "worker/fork_template.h"

#include <malloc.h>
#include <poll.h>
#include <signal.h>
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
#include "util/log.h"
#include "worker/privileges.h"
#include "wsgi_fpm/scoreboard.h"

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

}  // namespace

void serve_fork_requests(pid_t supervisor_pid, PyThreadState* main_state, Contract& contract,
                         std::optional<CommandLine>* zygote) {
  const int command_fd = contract.fd(kForkCommandFd);
  const int request_fds = zygote ? kZygoteRequestFds : kForkRequestFds;
  // A template's requests are the header alone; a zygote's carry a command line.
  std::vector<char> buffer(sizeof(ForkRequest) + (zygote ? kCommandLineMaxBytes : 0));
  // The stop signals are blocked (main.cc); take them here so that SIGTERM
  // ends the template, which has no request to drain.
  sigset_t stop_signals;
  pthread_sigmask(SIG_BLOCK, nullptr, &stop_signals);
  int signals = keep_high(signalfd(-1, &stop_signals, SFD_CLOEXEC));
  if (signals < 0) {
    log::error("template: signalfd: {}", std::strerror(errno));
    std::_Exit(5);
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
  static constexpr char kReady[] = "ready\n";
  if (write(contract.fd(kNotifyFd), kReady, sizeof kReady - 1) < 0) std::_Exit(0);

  while (true) {
    pollfd watch[2] = {{command_fd, POLLIN, 0}, {signals, POLLIN, 0}};
    if (poll(watch, 2, -1) < 0) {
      if (errno == EINTR) continue;
      std::_Exit(5);
    }
    if (watch[1].revents) std::_Exit(0);

    ForkRequest request{};
    iovec iov{buffer.data(), buffer.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kZygoteRequestFds)];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(command_fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) std::_Exit(0);  // the supervisor closed the socket: we are done

    int fds[kZygoteRequestFds];
    int got = 0;
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      got = std::min(static_cast<int>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int)), kZygoteRequestFds);
      std::memcpy(fds, CMSG_DATA(c), sizeof(int) * static_cast<std::size_t>(got));
    }
    if (n >= static_cast<ssize_t>(sizeof request)) std::memcpy(&request, buffer.data(), sizeof request);
    std::optional<CommandLine> command_line;
    if (zygote && n >= static_cast<ssize_t>(sizeof request) && !(msg.msg_flags & MSG_TRUNC))
      command_line = decode_command_line(std::string_view(buffer.data() + sizeof request,
                                                          static_cast<std::size_t>(n) - sizeof request));
    bool well_formed = zygote ? command_line.has_value() : n == sizeof request;
    if (!well_formed || got != request_fds || (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC))) {
      close_all(fds, got);
      reply(command_fd, request.id, -EPROTO);
      continue;
    }

    std::fflush(nullptr);  // nothing buffered may be written twice
    pid_t middle;
    {
      python::GilHold gil(main_state);
      PyOS_BeforeFork();
      middle = fork();
      if (middle == 0) {
        pid_t self = getpid();
        pid_t worker = fork();
        if (worker != 0) {
          reply(command_fd, request.id, worker > 0 ? worker : -errno);
          std::_Exit(0);
        }
        PyOS_AfterFork_Child();
        g_middle = self;
        g_supervisor = supervisor_pid;
        // The worker's own descriptors replace the template's.
        dup2(fds[0], 1);
        dup2(fds[1], 2);
        close_all(fds, 2);
        contract.replace(kScoreboardFd, fds[2]);
        contract.replace(kNotifyFd, fds[3]);
        contract.close(kForkCommandFd);
        if (zygote && (request.flags & kForkTemplate)) {
          contract.replace(kForkCommandFd, fds[4]);  // a template: its own fork requests
        } else {
          contract.replace(kHandoffFd, fds[4]);
        }
        if (zygote) {
          contract.replace(kListenFd, fds[5]);
          *zygote = std::move(command_line);
        }
        close(signals);
        return;  // GilHold lets go of the GIL on the way out
      }
      int fork_errno = errno;
      PyOS_AfterFork_Parent();
      errno = fork_errno;
    }
    close_all(fds, request_fds);
    if (middle < 0) {
      reply(command_fd, request.id, -errno);
      continue;
    }
    while (waitpid(middle, nullptr, 0) < 0 && errno == EINTR) {
    }
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
    std::_Exit(3);
  }
}

}  // namespace wsgi_fpm::worker
