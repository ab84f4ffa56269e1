// The contract between supervisor and worker in include/wsgi_fpm/ that is
// neither the command line (test_worker_options.cc) nor fork requests
// (test_fork_request.cc): notify messages and exit statuses.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "wsgi_fpm/notify.h"
#include "wsgi_fpm/worker_exit.h"

using wsgi_fpm::NotifyMessage;

TEST_CASE("every notify message reads back as it was written") {
  for (NotifyMessage m : {NotifyMessage{NotifyMessage::Kind::Ready, {}},
                          NotifyMessage{NotifyMessage::Kind::Retire, "maximum-requests"},
                          NotifyMessage{NotifyMessage::Kind::Evict, "SIGUSR1"},
                          NotifyMessage{NotifyMessage::Kind::Retire, "lost its listening socket"}}) {
    std::string line = m.encode();
    REQUIRE(line.ends_with("\n"));
    line.pop_back();
    auto back = NotifyMessage::parse(line);
    REQUIRE(back);
    CHECK(back->kind == m.kind);
    CHECK(back->reason == m.reason);
  }
}

TEST_CASE("a notify line that is none of ours is ignored, a bare verb has a reason") {
  CHECK_FALSE(NotifyMessage::parse(""));
  CHECK_FALSE(NotifyMessage::parse("ready now"));
  CHECK_FALSE(NotifyMessage::parse("retired"));
  CHECK_FALSE(NotifyMessage::parse("evicting x"));
  CHECK(NotifyMessage::parse("retire")->reason == "requested");
  CHECK(NotifyMessage::parse("evict ")->reason == "requested");
  CHECK(NotifyMessage::parse("evict")->kind == NotifyMessage::Kind::Evict);
}

TEST_CASE("the worker's exit statuses are distinct, described, and not the small numbers apps use") {
  namespace e = wsgi_fpm::worker_exit;
  std::set<int> seen;
  for (int status : {e::kStopped, e::kBadCommandLine, e::kInternalError, e::kDrainTimedOut, e::kCannotSetUp,
                     e::kPythonFailed}) {
    CHECK(seen.insert(status).second);
    CHECK(std::string(e::describe(status)) != "");
    CHECK((status == 0 || status >= 64));
  }
  for (int app_status : {1, 2, 3, 4, 5, 127}) CHECK(std::string(e::describe(app_status)).empty());
}
