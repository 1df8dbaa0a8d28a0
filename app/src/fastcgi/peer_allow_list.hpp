// SPDX-License-Identifier: MIT
// Which TCP peers may talk FastCGI to us: the front server's addresses, nothing else.
// libfcgi's FCGI_WEB_SERVER_ADDRS does the same for IPv4 only; this list takes IPv4
// and IPv6 (exact addresses, no ranges) and is checked at accept time.
#pragma once
#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <string_view>
#include <vector>

namespace cppapi {

class PeerAllowList {
 public:
  /// "127.0.0.1", "127.0.0.1, ::1" (commas, spaces tolerated). Throws
  /// std::invalid_argument naming the first entry that is not an IP address.
  static PeerAllowList parse(std::string_view addresses);
  /// `allow_from` (each entry as for parse()), or if that is empty `fallback` (the
  /// FCGI_WEB_SERVER_ADDRS variable; may be null). Both empty: everyone is allowed.
  static PeerAllowList from(const std::vector<std::string>& allow_from, const char* fallback);

  /// True when no list was given: every peer is allowed.
  bool allows_all() const { return v4_.empty() && v6_.empty(); }
  /// Whether a peer at `address` may connect. Unix-domain peers always may (the
  /// socket file's mode protects them); an IPv4-mapped IPv6 peer matches its IPv4 entry.
  bool allows(const sockaddr* address, socklen_t length) const;
  /// "127.0.0.1, ::1" for the log.
  std::string describe() const;

 private:
  std::vector<in_addr> v4_;
  std::vector<in6_addr> v6_;
};

/// The peer's numeric address ("127.0.0.2", "::1", "unix"), for the log.
std::string peer_address_text(const sockaddr* address, socklen_t length);

}  // namespace cppapi
