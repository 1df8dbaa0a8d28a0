// SPDX-License-Identifier: MIT
#include "process/listen_queue.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace cppapi {
namespace {

std::optional<ListenQueue> unix_listen_queue(int fd) {
  struct stat info {};
  if (::fstat(fd, &info) != 0) return std::nullopt;
  const int netlink = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (netlink < 0) return std::nullopt;
  struct {
    nlmsghdr header;
    unix_diag_req request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST;
  message.request.sdiag_family = AF_UNIX;
  message.request.udiag_states = ~0u;
  message.request.udiag_ino = static_cast<std::uint32_t>(info.st_ino);
  message.request.udiag_show = UDIAG_SHOW_RQLEN;
  message.request.udiag_cookie[0] = message.request.udiag_cookie[1] = ~0u;  // INET_DIAG_NOCOOKIE
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  std::optional<ListenQueue> result;
  if (::sendto(netlink, &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) ==
      static_cast<ssize_t>(sizeof message)) {
    alignas(nlmsghdr) char buffer[8192];
    const ssize_t got = ::recv(netlink, buffer, sizeof buffer, 0);
    int left = static_cast<int>(got);
    for (auto* reply = reinterpret_cast<nlmsghdr*>(buffer); got > 0 && NLMSG_OK(reply, left);
         reply = NLMSG_NEXT(reply, left)) {
      if (reply->nlmsg_type != SOCK_DIAG_BY_FAMILY) break;
      const auto* diag = static_cast<const unix_diag_msg*>(NLMSG_DATA(reply));
      int attributes_left = static_cast<int>(reply->nlmsg_len - NLMSG_LENGTH(sizeof *diag));
      for (auto* attribute = reinterpret_cast<rtattr*>(const_cast<unix_diag_msg*>(diag) + 1);
           RTA_OK(attribute, attributes_left); attribute = RTA_NEXT(attribute, attributes_left)) {
        if (attribute->rta_type != UNIX_DIAG_RQLEN) continue;
        unix_diag_rqlen lengths{};
        std::memcpy(&lengths, RTA_DATA(attribute), sizeof lengths);
        result = ListenQueue{lengths.udiag_rqueue, lengths.udiag_wqueue};
      }
      break;
    }
  }
  ::close(netlink);
  return result;
}

}  // namespace

std::optional<ListenQueue> listen_queue(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return std::nullopt;
  if (address.ss_family == AF_UNIX) return unix_listen_queue(fd);
  tcp_info info{};
  socklen_t info_length = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &info_length) != 0) return std::nullopt;
  return ListenQueue{info.tcpi_unacked, info.tcpi_sacked};  // on a listener: accept queue, its limit
}

}  // namespace cppapi
