// SPDX-License-Identifier: MIT
#pragma once
#include <cstdint>
#include <optional>

namespace cppapi {

/// Connections waiting in the kernel's accept queue of listening socket `fd`, and the
/// queue's limit. TCP: getsockopt(TCP_INFO) (tcpi_unacked, tcpi_sacked on a listener);
/// unix: NETLINK_SOCK_DIAG with UDIAG_SHOW_RQLEN (udiag_rqueue, udiag_wqueue), since
/// /proc/net/unix does not show it. nullopt when the kernel will not say.
struct ListenQueue {
  std::uint32_t length = 0;
  std::uint32_t limit = 0;
};
std::optional<ListenQueue> listen_queue(int fd);

}  // namespace cppapi
