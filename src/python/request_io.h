// What the Python layer needs from a connection, whichever the protocol.
// The worker implements it (worker/fastcgi_connection, worker/scgi_connection);
// the Python layer calls it with the GIL released, or holding it with wait
// hooks that release it whenever the call has to wait for the socket.
#pragma once

#include <sys/types.h>

#include <span>
#include <string_view>

#include "protocol/params.h"

namespace wsgi_fpm::python {

class RequestIo {
 public:
  virtual ~RequestIo() = default;

  virtual const protocol::Params& params() const = 0;

  // Reads up to `n` bytes of the request body into `buf`. 0 means the body
  // has ended; -1 means the connection failed (the reason is logged).
  virtual ssize_t read_body(char* buf, size_t n) = 0;

  // Sends the pieces in order as response bytes. `last` ends the response, so
  // the protocol's closing records can share the same write. False if the
  // frontend is gone.
  virtual bool write(std::span<const std::string_view> pieces, bool last) = 0;

  // Ends the response abnormally (after headers were sent): the frontend must
  // see a broken response, never a complete-looking truncated one.
  virtual void abort() = 0;

  // Called around every wait for the socket (the poll after EAGAIN on the
  // non-blocking socket), nowhere else. A small write completes at once, so a
  // caller that holds the GIL may keep it for the call and give it up only
  // here: releasing it around every write hands it to a waiting thread and
  // back, two wake-ups per request for nothing.
  struct WaitHooks {
    void (*before)(void* context) = nullptr;
    void (*after)(void* context) = nullptr;
    void* context = nullptr;
  };
  void set_wait_hooks(WaitHooks hooks) { wait_hooks_ = hooks; }

 protected:
  WaitHooks wait_hooks_;
};

}  // namespace wsgi_fpm::python
