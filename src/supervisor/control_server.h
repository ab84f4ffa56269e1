// The supervisor's control socket: <runtime-dir>/control.sock, mode 0600 and
// owned by the supervisor's user (root), so only root can ask for status,
// reload or stop. One command line per connection; the reply is "ok" or
// "error" on the first line, then the payload, then the connection closes.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "supervisor/uv_handle.h"
#include "util/socket_file.h"

namespace wsgi_fpm::supervisor {

class ControlServer {
 public:
  // Returns the whole reply for one command ("status", "status json",
  // "reload", "stop").
  using Handler = std::function<std::string(const std::string& command)>;

  ControlServer(uv_loop_t* loop, Handler handler) : loop_(loop), handler_(std::move(handler)) {}
  bool listen(const std::string& path, std::string& error);
  // Stops listening and removes the socket file (if it is still the one bound).
  void close();
  bool listening() const { return static_cast<bool>(server_); }
  // False once the socket file was removed or replaced.
  bool in_place() const { return socket_file_in_place(file_); }

 private:
  void on_connection();
  uv_loop_t* loop_;
  Handler handler_;
  PipeListener server_;
  SocketFile file_;
};

// The client side, for `wsgi-fpm status|reload|stop`: sends `command`, puts
// the reply's payload in `reply`. False with `error` if the supervisor could
// not be reached or answered "error" (then `reply` holds its message).
bool control_request(const std::string& socket_path, const std::string& command, std::string& reply,
                     std::string& error);

}  // namespace wsgi_fpm::supervisor
