// SPDX-License-Identifier: MIT
// The FastCGI wire format (spec 1.0), for the responder role: records in, a
// request's parameters and body out, and the records of a reply. It owns no socket,
// so it can be tested and fuzzed on bytes alone. Every length read from the peer
// is bounded before use (Debian 12's libfcgi aborts on crafted PARAMS lengths,
// CVE-2025-23016; this parser refuses them).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/limits.hpp"

namespace cppapi::fastcgi {

enum RecordType : std::uint8_t {
  kBeginRequest = 1,
  kAbortRequest = 2,
  kEndRequest = 3,
  kParams = 4,
  kStdin = 5,
  kStdout = 6,
  kStderr = 7,
  kData = 8,
  kGetValues = 9,
  kGetValuesResult = 10,
  kUnknownType = 11,
};

enum ProtocolStatus : std::uint8_t { kRequestComplete = 0, kCantMultiplex = 1, kOverloaded = 2, kUnknownRole = 3 };

constexpr std::uint8_t kVersion = 1;
constexpr std::uint16_t kResponderRole = 1;
constexpr std::uint8_t kKeepConnection = 1;
constexpr std::size_t kHeaderSize = 8;
constexpr std::size_t kMaxContent = 65535;

/// Bounds on one request; beyond them the connection is dropped (params) or the
/// request is answered 413 (body, counted but not kept).
struct ParserLimits {
  std::size_t max_params_bytes = Limits{}.max_params_bytes;
  std::size_t max_body_bytes = Limits{}.max_body_bytes;
};

/// One request as the web server sent it. `envp` points into `params`; a copy or a
/// move points its own `envp` into its own `params` (a short `params` lives inside the
/// string object, so its bytes move with it).
struct IncomingRequest {
  IncomingRequest() = default;
  IncomingRequest(const IncomingRequest& other);
  IncomingRequest(IncomingRequest&& other) noexcept;
  IncomingRequest& operator=(const IncomingRequest& other);
  IncomingRequest& operator=(IncomingRequest&& other) noexcept;
  ~IncomingRequest() = default;

  std::uint16_t id = 0;
  bool keep_connection = false;
  std::string params;             ///< "NAME=value\0NAME=value\0..."
  std::vector<const char*> envp;  ///< into `params`, ending with nullptr
  std::string body;
  std::size_t body_bytes_seen = 0;  ///< all STDIN bytes, also those past the limit
  bool declared_too_large = false;  ///< CONTENT_LENGTH alone is over the limit: nothing kept
  bool body_too_large() const { return declared_too_large || body_bytes_seen > body.size(); }

 private:
  /// Points `envp`, which pointed into a `params` at `old_base`, at the same offsets of ours.
  void relocate_envp(const char* old_base) noexcept;
};

/// Turns a byte stream into requests, one at a time (no multiplexing, like every
/// front server). Management records and refusals are answered through `replies`.
class RequestParser {
 public:
  /// kClose: the stream ended well (a refused or aborted request without KEEP_CONN):
  /// send the replies, then close.
  enum class Result { kNeedMore, kRequestReady, kBroken, kClose };

  explicit RequestParser(ParserLimits limits) : limits_(limits) {}

  /// Consumes whole records from the front of `input`. Stops after a complete
  /// request (kRequestReady: take it with take_request()), when the stream cannot
  /// be understood (kBroken: drop the connection) or when the web server is done with
  /// it (kClose). Bytes for records sent back
  /// (GET_VALUES_RESULT, END_REQUEST of a refused request) are appended to `replies`.
  Result consume(std::string_view& input, std::string& replies);

  /// The request that consume() completed; the parser is then ready for the next one.
  IncomingRequest take_request();

  /// True between BEGIN_REQUEST and the end of its body.
  bool in_request() const { return state_ != State::kIdle; }
  /// Why consume() returned kBroken.
  const std::string& error() const { return error_; }

 private:
  enum class State { kIdle, kParams, kStdin, kReady };

  Result handle_record(std::uint8_t type, std::uint16_t id, std::string_view content, std::string& replies);
  Result handle_management(std::uint8_t type, std::string_view content, std::string& replies);  // id 0
  Result handle_begin(std::uint16_t id, std::string_view content, std::string& replies);
  Result handle_stream(std::uint8_t type, std::uint16_t id, std::string_view content, std::string& replies);
  Result broken(std::string why);
  Result end_without_request(std::uint16_t id, ProtocolStatus status, std::string& replies, bool keep);
  bool decode_params();

  ParserLimits limits_;
  State state_ = State::kIdle;
  IncomingRequest current_;
  std::string raw_params_;
  std::string error_;
};

/// Appends the records of a complete reply: STDOUT records carrying `head` and `body`,
/// the empty STDOUT that ends the stream, and END_REQUEST.
void append_reply(std::string& out, std::uint16_t id, std::string_view head, std::string_view body);

/// Appends one record header (no padding); throws std::length_error past kMaxContent.
void append_header(std::string& out, std::uint8_t type, std::uint16_t id, std::size_t content_length);

/// Appends an END_REQUEST record.
void append_end_request(std::string& out, std::uint16_t id, std::uint32_t app_status, ProtocolStatus status);

/// Appends one FastCGI name-value pair (as in PARAMS and GET_VALUES records).
void append_name_value(std::string& out, std::string_view name, std::string_view value);

}  // namespace cppapi::fastcgi
