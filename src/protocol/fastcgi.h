// FastCGI 1.0 codec: record framing, name-value pairs, and the server-side
// request state machine. Pure: bytes in, bytes or events out, no I/O.
//
// Why not libfcgi here: its FCGX_Accept_r owns the connection between
// requests (a keep-alive connection pins a request thread), it reads
// parameters without any size bound (request-header-limit), and its close path
// waits up to 2 s in select(), which aborts under _FORTIFY_SOURCE once a
// worker holds more than 1023 descriptors. libfcgi stays in the project as the
// reference implementation the tests check this codec against, and as the
// baseline responder of the benchmark.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/params.h"

namespace wsgi_fpm::fastcgi {

inline constexpr std::size_t kHeaderSize = 8;
inline constexpr std::size_t kMaxContentLength = 65535;
inline constexpr std::uint8_t kVersion1 = 1;
inline constexpr std::uint8_t kKeepConnFlag = 1;

enum class RecordType : std::uint8_t {
  BeginRequest = 1,
  AbortRequest = 2,
  EndRequest = 3,
  Params = 4,
  Stdin = 5,
  Stdout = 6,
  Stderr = 7,
  Data = 8,
  GetValues = 9,
  GetValuesResult = 10,
  UnknownType = 11,
};

enum class Role : std::uint16_t { Responder = 1, Authorizer = 2, Filter = 3 };

enum class ProtocolStatus : std::uint8_t {
  RequestComplete = 0,
  CantMultiplexConnection = 1,
  Overloaded = 2,
  UnknownRole = 3,
};

struct RecordHeader {
  std::uint8_t version = kVersion1;
  std::uint8_t type = 0;  // a RecordType, but peers may send any byte
  std::uint16_t request_id = 0;
  std::uint16_t content_length = 0;
  std::uint8_t padding_length = 0;
};

struct Record {
  RecordHeader header;
  std::string_view content;  // points into the buffer given to parse_record
};

enum class ParseStatus { Incomplete, Ok, Malformed };

// Parses one record from the front of `buf`. On Ok, `consumed` is the record's
// full size including padding. Malformed means a version other than 1.
ParseStatus parse_record(std::string_view buf, Record& out, std::size_t& consumed);

// --- encoding -------------------------------------------------------------

// Appends `content` as records of `type`, split at 65535 bytes and padded to a
// multiple of 8. Empty content appends one empty record (a stream's end).
void append_stream(std::string& out, RecordType type, std::uint16_t request_id,
                   std::string_view content);
// Appends just the 8-byte header of one record; the caller sends
// `content_length` bytes and `padding` zero bytes after it.
void append_header(std::string& out, RecordType type, std::uint16_t request_id,
                   std::uint16_t content_length, std::uint8_t padding);
void append_begin_request(std::string& out, std::uint16_t request_id, Role role,
                          bool keep_connection);
void append_end_request(std::string& out, std::uint16_t request_id,
                        std::uint32_t app_status, ProtocolStatus status);
void append_unknown_type(std::string& out, std::uint8_t type);
// One name-value pair in FastCGI's 1-or-4-byte length encoding.
void append_name_value(std::string& out, std::string_view name, std::string_view value);
// All of `params`, as PARAMS records followed by the empty PARAMS record.
void append_params(std::string& out, std::uint16_t request_id,
                   const protocol::Params& params);

// Decodes a complete PARAMS stream. False if a length runs past the end.
bool decode_name_values(std::string_view content, protocol::Params& out);
// Decodes the whole pairs at the start of `content` into `out`; returns the
// bytes they took (a pair cut off at the end is left for more to come).
std::size_t decode_complete_pairs(std::string_view content, protocol::Params& out);

// --- the server side of one connection -------------------------------------

struct ServerLimits {
  std::size_t max_params_bytes = 64 * 1024;  // request-header-limit
  // What GET_VALUES answers for FCGI_MAX_CONNS and FCGI_MAX_REQS (0: not
  // answered): how many connections and requests the process serves at once.
  unsigned max_connections = 0;
  unsigned max_requests = 0;
};

// Follows one connection's records: BEGIN_REQUEST, PARAMS..., STDIN...
// Records for a second request id while one is active are answered with
// CANT_MPX_CONN (as libfcgi does); management records (request id 0) get
// GET_VALUES_RESULT or UNKNOWN_TYPE. Replies the connection must send are
// appended to `reply` for the caller to write.
class ServerSession {
 public:
  enum class Event {
    None,           // record absorbed; feed more
    HeadComplete,   // params() now holds the whole request head
    StdinData,      // stdin_chunk() holds request body bytes
    StdinEnd,       // the empty STDIN record: the body is complete
    Aborted,        // the frontend sent ABORT_REQUEST for the active request
    Refused,        // a request was answered at once (a role other than RESPONDER);
                    // close the connection unless keep_connection()
    Error,          // protocol violation: error() says what; close the connection
  };

  explicit ServerSession(ServerLimits limits = {}) : limits_(limits) {}

  // Handles one parsed record.
  Event on_record(const Record& record, std::string& reply);

  const protocol::Params& params() const { return params_; }
  protocol::Params& params() { return params_; }
  std::string_view stdin_chunk() const { return stdin_chunk_; }
  const std::string& error() const { return error_; }
  std::uint16_t request_id() const { return request_id_; }
  Role role() const { return role_; }
  bool keep_connection() const { return keep_connection_; }
  bool active() const { return state_ != State::Idle; }
  bool params_too_large() const { return params_too_large_; }

  // Call after the response's END_REQUEST is sent: ready for the next request.
  void reset();

 private:
  enum class State { Idle, ReadingParams, ReadingStdin, StdinDone };
  Event fail(std::string message);
  Event on_management(const Record& record, std::string& reply);

  ServerLimits limits_;
  State state_ = State::Idle;
  std::uint16_t request_id_ = 0;
  Role role_ = Role::Responder;
  bool keep_connection_ = false;
  bool params_too_large_ = false;
  std::size_t params_stream_bytes_ = 0;
  std::string params_buffer_;  // a pair split across PARAMS records
  protocol::Params params_;
  std::string_view stdin_chunk_;
  std::string error_;
};

// --- the client side (wsgi-fpm request, the benchmark) ----------------------

// Encodes a complete request: BEGIN_REQUEST, PARAMS, and `body` as STDIN.
std::string encode_request(std::uint16_t request_id, const protocol::Params& params,
                           std::string_view body, bool keep_connection);

// Collects a response's STDOUT and STDERR until END_REQUEST.
class ClientResponse {
 public:
  // Consumes complete records from the front of `buf`; returns bytes used.
  // Check done() and error() after each call.
  std::size_t feed(std::string_view buf);
  bool done() const { return done_; }
  const std::string& error() const { return error_; }
  const std::string& stdout_data() const { return stdout_; }
  const std::string& stderr_data() const { return stderr_; }
  std::uint32_t app_status() const { return app_status_; }
  ProtocolStatus protocol_status() const { return protocol_status_; }
  void reset() { *this = ClientResponse(); }

 private:
  bool done_ = false;
  std::string error_;
  std::string stdout_;
  std::string stderr_;
  std::uint32_t app_status_ = 0;
  ProtocolStatus protocol_status_ = ProtocolStatus::RequestComplete;
};

}  // namespace wsgi_fpm::fastcgi
