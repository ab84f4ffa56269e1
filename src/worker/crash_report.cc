#include "worker/crash_report.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

namespace wsgi_fpm::worker {
namespace {

thread_local const CrashContext* t_context = nullptr;

// Only async-signal-safe calls from here on: write(2), strlen, no locale.
void put(const char* text) {
  std::size_t left = strlen(text);
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, text, left);
    if (n <= 0) return;
    text += n;
    left -= static_cast<std::size_t>(n);
  }
}

void put(const std::string& text) { put(text.c_str()); }

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGILL: return "SIGILL";
    case SIGFPE: return "SIGFPE";
    case SIGABRT: return "SIGABRT";
    default: return "a fatal signal";
  }
}

void on_fatal_signal(int sig) {
  if (const CrashContext* c = t_context) {
    // One line, as the worker's log lines are ("[level] text"): the
    // supervisor files it under the pool with the other lines of the process.
    put("[error] this process died of ");
    put(signal_name(sig));
    put(" while ");
    put(c->doing);
    put(" ");
    if (!c->what.empty()) {
      put(c->what);
      put(" with ");
    }
    put(c->script);
    put(" in application group '");
    put(c->group);
    put("', which has a GIL of its own (own-gil: true): a C extension module it imports may not support an "
        "isolated interpreter (numpy does not, on Debian 13); try own-gil: false for this app\n");
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void install_crash_report() {
  struct sigaction action {};
  action.sa_handler = on_fatal_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND | SA_NODEFER;
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) sigaction(sig, &action, nullptr);
}

CrashContext::CrashContext(const char* doing_, const std::string& what_, const std::string& script_,
                           const std::string& group_)
    : doing(doing_), what(what_), script(script_), group(group_), previous_(t_context) {
  t_context = this;
}

CrashContext::~CrashContext() { t_context = previous_; }

}  // namespace wsgi_fpm::worker
