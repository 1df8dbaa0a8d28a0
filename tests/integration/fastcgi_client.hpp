// SPDX-License-Identifier: MIT
// A small FastCGI client for tests that talk to cppapi without a front server: whole
// requests (BEGIN_REQUEST, PARAMS, STDIN) or any bytes at all, over TCP (from a chosen
// source address) or a unix socket, and the reply parsed back into status and body.
#pragma once
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "harness.hpp"

namespace cppapi::test {

/// A connected socket, closed at destruction; -1 if the connection failed.
class FcgiSocket {
 public:
  explicit FcgiSocket(int fd = -1) : fd_(fd) {}
  ~FcgiSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  FcgiSocket(FcgiSocket&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FcgiSocket(const FcgiSocket&) = delete;
  FcgiSocket& operator=(const FcgiSocket&) = delete;
  FcgiSocket& operator=(FcgiSocket&& other) noexcept {
    if (this != &other) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int fd() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

  /// To 127.0.0.1:`port`, from `source` (e.g. "127.0.0.2") if given.
  static FcgiSocket tcp(int port, const char* source = nullptr) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (source) {
      sockaddr_in from{};
      from.sin_family = AF_INET;
      ::inet_pton(AF_INET, source, &from.sin_addr);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
        ::close(fd);
        return FcgiSocket();
      }
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      ::close(fd);
      return FcgiSocket();
    }
    return FcgiSocket(fd);
  }

  static FcgiSocket unix_socket(const fs::path& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un to{};
    to.sun_family = AF_UNIX;
    std::strncpy(to.sun_path, path.c_str(), sizeof to.sun_path - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
      ::close(fd);
      return FcgiSocket();
    }
    return FcgiSocket(fd);
  }

  /// Writes all of `bytes`; false if the peer went away.
  bool send(std::string_view bytes) const {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  /// Reads until EOF, an error, or `timeout`; `eof` tells whether the peer closed.
  std::string read_all(std::chrono::milliseconds timeout, bool* eof = nullptr) const {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (eof) *eof = false;
    while (true) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd wait{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&wait, 1, static_cast<int>(left.count())) <= 0) return got;
      char buffer[65536];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        if (eof) *eof = true;
        return got;
      }
      got.append(buffer, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_;
};

namespace fcgi {

constexpr std::uint8_t kBegin = 1, kAbort = 2, kEnd = 3, kParams = 4, kStdin = 5, kStdout = 6, kStderr = 7;

/// One record with any header fields (`length` and `padding` may lie about `content`).
inline std::string raw_record(std::uint8_t version, std::uint8_t type, std::uint16_t id, std::size_t length,
                              std::uint8_t padding, std::string_view content) {
  std::string out;
  out += static_cast<char>(version);
  out += static_cast<char>(type);
  out += static_cast<char>(id >> 8);
  out += static_cast<char>(id & 0xff);
  out += static_cast<char>((length >> 8) & 0xff);
  out += static_cast<char>(length & 0xff);
  out += static_cast<char>(padding);
  out += '\0';
  out.append(content);
  return out;
}

inline std::string record(std::uint8_t type, std::uint16_t id, std::string_view content) {
  return raw_record(1, type, id, content.size(), 0, content);
}

/// Records of `type` carrying `content` in pieces of at most 65535 bytes (no terminator).
inline std::string stream(std::uint8_t type, std::uint16_t id, std::string_view content) {
  std::string out;
  while (!content.empty()) {
    const std::size_t take = std::min<std::size_t>(content.size(), 65535);
    out += record(type, id, content.substr(0, take));
    content.remove_prefix(take);
  }
  return out;
}

inline std::string begin(std::uint16_t id, bool keep = false, std::uint16_t role = 1) {
  const char body[8] = {
      static_cast<char>(role >> 8), static_cast<char>(role & 0xff), keep ? '\1' : '\0', 0, 0, 0, 0, 0};
  return record(kBegin, id, std::string_view(body, 8));
}

inline void append_length(std::string& out, std::size_t length) {
  if (length < 0x80) {
    out += static_cast<char>(length);
    return;
  }
  out += static_cast<char>(((length >> 24) & 0x7f) | 0x80);
  out += static_cast<char>((length >> 16) & 0xff);
  out += static_cast<char>((length >> 8) & 0xff);
  out += static_cast<char>(length & 0xff);
}

using Params = std::vector<std::pair<std::string, std::string>>;

inline std::string name_values(const Params& params) {
  std::string out;
  for (const auto& [name, value] : params) {
    append_length(out, name.size());
    append_length(out, value.size());
    out += name;
    out += value;
  }
  return out;
}

/// A whole request: BEGIN_REQUEST, PARAMS, empty PARAMS, STDIN (body), empty STDIN.
inline std::string request(const Params& params, std::string_view body = {}, std::uint16_t id = 1, bool keep = false) {
  std::string out = begin(id, keep);
  out += stream(kParams, id, name_values(params));
  out += record(kParams, id, {});
  out += stream(kStdin, id, body);
  out += record(kStdin, id, {});
  return out;
}

/// The usual parameters of a GET (or `method`) of `uri`, as nginx's fastcgi_params sends them.
inline Params params_for(std::string_view method, std::string_view uri, std::size_t content_length = 0) {
  return {{"REQUEST_METHOD", std::string(method)},
          {"REQUEST_URI", std::string(uri)},
          {"SCRIPT_NAME", "/api/"},
          {"QUERY_STRING", ""},
          {"CONTENT_LENGTH", content_length ? std::to_string(content_length) : ""},
          {"CONTENT_TYPE", ""},
          {"SERVER_PROTOCOL", "HTTP/1.1"},
          {"GATEWAY_INTERFACE", "CGI/1.1"},
          {"REMOTE_ADDR", "127.0.0.1"},
          {"SERVER_NAME", "localhost"}};
}

/// The CVE-2025-23016 pattern: a PARAMS pair whose name and value lengths are both
/// 0x7ffffffe, then about 1 MiB of PARAMS. Debian 12's libfcgi aborts on it (its sum wraps).
inline std::string cve_2025_23016_request() {
  std::string out = begin(1);
  std::string pair = "\xff\xff\xff\xfe\x7f\xff\xff\xfe";  // both lengths 0x7ffffffe (high bit: 4-byte form)
  pair += std::string(64, 'A');
  out += stream(kParams, 1, pair);
  for (int i = 0; i < 16; ++i) out += record(kParams, 1, std::string(65535, 'B'));
  out += record(kParams, 1, {});
  return out;
}

}  // namespace fcgi

/// A reply as read off the socket.
struct FcgiReply {
  bool ended = false;        ///< an END_REQUEST arrived
  bool well_formed = true;   ///< every record parsed
  std::string stdout_bytes;  ///< all STDOUT content
  std::string stderr_bytes;
  std::uint8_t protocol_status = 0xff;
  int status = 0;    ///< from "Status: NNN", 0 if none
  std::string head;  ///< the header lines
  std::string body;
  std::size_t raw_size = 0;  ///< bytes received in all
};

inline FcgiReply parse_reply(std::string_view bytes) {
  FcgiReply reply;
  reply.raw_size = bytes.size();
  while (!bytes.empty()) {
    if (bytes.size() < 8 || static_cast<std::uint8_t>(bytes[0]) != 1) {
      reply.well_formed = false;
      break;
    }
    const std::uint8_t type = static_cast<std::uint8_t>(bytes[1]);
    const std::size_t length =
        std::size_t{static_cast<std::uint8_t>(bytes[4])} << 8 | static_cast<std::uint8_t>(bytes[5]);
    const std::size_t padding = static_cast<std::uint8_t>(bytes[6]);
    if (bytes.size() < 8 + length + padding) {
      reply.well_formed = false;
      break;
    }
    const std::string_view content = bytes.substr(8, length);
    if (type == fcgi::kStdout) reply.stdout_bytes.append(content);
    if (type == fcgi::kStderr) reply.stderr_bytes.append(content);
    if (type == fcgi::kEnd) {
      reply.ended = true;
      if (content.size() >= 5) reply.protocol_status = static_cast<std::uint8_t>(content[4]);
    }
    bytes.remove_prefix(8 + length + padding);
  }
  const std::size_t split = reply.stdout_bytes.find("\r\n\r\n");
  reply.head = reply.stdout_bytes.substr(0, split);
  if (split != std::string::npos) reply.body = reply.stdout_bytes.substr(split + 4);
  if (reply.head.rfind("Status: ", 0) == 0) reply.status = std::atoi(reply.head.c_str() + 8);
  return reply;
}

/// Sends `bytes` on `socket` and reads until the peer closes or `timeout` passes.
inline FcgiReply fcgi_exchange(const FcgiSocket& socket, std::string_view bytes,
                               std::chrono::milliseconds timeout = 10s) {
  socket.send(bytes);
  return parse_reply(socket.read_all(timeout));
}

}  // namespace cppapi::test
