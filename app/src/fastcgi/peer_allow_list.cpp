// SPDX-License-Identifier: MIT
#include "fastcgi/peer_allow_list.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "core/text.hpp"

namespace cppapi {
namespace {

bool same(const in_addr& a, const in_addr& b) { return a.s_addr == b.s_addr; }
bool same(const in6_addr& a, const in6_addr& b) { return std::memcmp(&a, &b, sizeof a) == 0; }

in_addr mapped_v4(const in6_addr& address) {
  in_addr v4{};
  std::memcpy(&v4, address.s6_addr + 12, 4);
  return v4;
}

}  // namespace

PeerAllowList PeerAllowList::parse(std::string_view addresses) {
  PeerAllowList list;
  while (true) {
    const std::size_t comma = addresses.find(',');
    const std::string entry(trim(addresses.substr(0, comma)));
    if (!entry.empty()) {
      in_addr v4{};
      in6_addr v6{};
      if (::inet_pton(AF_INET, entry.c_str(), &v4) == 1) {
        list.v4_.push_back(v4);
      } else if (::inet_pton(AF_INET6, entry.c_str(), &v6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&v6))
          list.v4_.push_back(mapped_v4(v6));
        else
          list.v6_.push_back(v6);
      } else {
        throw std::invalid_argument(
            fmt::format("expected IP addresses (127.0.0.1, ::1; no names or ranges), got \"{}\"", entry));
      }
    }
    if (comma == std::string_view::npos) break;
    addresses.remove_prefix(comma + 1);
  }
  if (list.allows_all())  // only a list never given means everyone
    throw std::invalid_argument("an empty list would allow every peer: give at least one address, or leave it unset");
  return list;
}

PeerAllowList PeerAllowList::from(const std::vector<std::string>& allow_from, const char* fallback) {
  PeerAllowList list;
  if (allow_from.empty()) {
    if (fallback) {
      try {
        return parse(fallback);
      } catch (const std::invalid_argument& error) {
        throw std::invalid_argument(fmt::format("FCGI_WEB_SERVER_ADDRS: {}", error.what()));
      }
    }
    return list;
  }
  for (const std::string& entry : allow_from) {
    PeerAllowList more = parse(entry);
    list.v4_.insert(list.v4_.end(), more.v4_.begin(), more.v4_.end());
    list.v6_.insert(list.v6_.end(), more.v6_.begin(), more.v6_.end());
  }
  return list;
}

bool PeerAllowList::allows(const sockaddr* address, socklen_t length) const {
  if (allows_all()) return true;
  if (!address || length < static_cast<socklen_t>(sizeof(sa_family_t))) return false;
  const auto any_v4 = [this](const in_addr& peer) {
    return std::any_of(v4_.begin(), v4_.end(), [&](const in_addr& entry) { return same(entry, peer); });
  };
  switch (address->sa_family) {
    case AF_UNIX:
      return true;
    case AF_INET:
      if (length < static_cast<socklen_t>(sizeof(sockaddr_in))) return false;
      return any_v4(reinterpret_cast<const sockaddr_in*>(address)->sin_addr);
    case AF_INET6: {
      if (length < static_cast<socklen_t>(sizeof(sockaddr_in6))) return false;
      const in6_addr& peer = reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr;
      if (IN6_IS_ADDR_V4MAPPED(&peer)) return any_v4(mapped_v4(peer));
      return std::any_of(v6_.begin(), v6_.end(), [&](const in6_addr& entry) { return same(entry, peer); });
    }
    default:
      return false;
  }
}

std::string PeerAllowList::describe() const {
  if (allows_all()) return "any address";
  std::string text;
  char buffer[INET6_ADDRSTRLEN];
  for (const in_addr& entry : v4_) {
    if (!text.empty()) text += ", ";
    text += ::inet_ntop(AF_INET, &entry, buffer, sizeof buffer);
  }
  for (const in6_addr& entry : v6_) {
    if (!text.empty()) text += ", ";
    text += ::inet_ntop(AF_INET6, &entry, buffer, sizeof buffer);
  }
  return text;
}

std::string peer_address_text(const sockaddr* address, socklen_t length) {
  char buffer[INET6_ADDRSTRLEN] = "?";
  if (!address || length < static_cast<socklen_t>(sizeof(sa_family_t))) return "unknown";
  if (address->sa_family == AF_UNIX) return "unix";
  if (address->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in)))
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(address)->sin_addr, buffer, sizeof buffer);
  else if (address->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6)))
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(address)->sin6_addr, buffer, sizeof buffer);
  return buffer;
}

}  // namespace cppapi
