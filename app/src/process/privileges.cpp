// SPDX-License-Identifier: MIT
#include "process/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>

namespace cppapi {
namespace {

std::optional<unsigned long> as_number(std::string_view text) {
  unsigned long value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

[[noreturn]] void failed(std::string_view what) {
  throw std::runtime_error(fmt::format("dropping privileges: {}: {}", what, std::strerror(errno)));
}

}  // namespace

Account find_user(std::string_view name) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  const std::string text(name);
  const auto number = as_number(name);
  const int rc = number ? ::getpwuid_r(static_cast<uid_t>(*number), &entry, buffer.data(), buffer.size(), &found)
                        : ::getpwnam_r(text.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0 || !found) throw std::runtime_error(fmt::format("no such user \"{}\"", name));
  return Account{entry.pw_uid, entry.pw_gid, entry.pw_name};
}

gid_t find_group(std::string_view name) {
  std::vector<char> buffer(65536);
  group entry{};
  group* found = nullptr;
  const std::string text(name);
  const auto number = as_number(name);
  const int rc = number ? ::getgrgid_r(static_cast<gid_t>(*number), &entry, buffer.data(), buffer.size(), &found)
                        : ::getgrnam_r(text.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0 || !found) throw std::runtime_error(fmt::format("no such group \"{}\"", name));
  return entry.gr_gid;
}

void drop_privileges(const Account& user, gid_t gid) {
  // Supplementary groups first (root's would otherwise stay), then the group, then the user.
  if (::initgroups(user.name.c_str(), gid) != 0) failed("initgroups");
  if (::setgid(gid) != 0) failed("setgid");
  if (::setuid(user.uid) != 0) failed("setuid");
  if (user.uid != 0) {
    if (::setuid(0) == 0 || ::seteuid(0) == 0 || ::geteuid() == 0 || ::getuid() == 0)
      throw std::runtime_error("dropping privileges: root could be regained after setuid");
  }
  if (gid != 0 && (::setgid(0) == 0 || ::setegid(0) == 0 || ::getegid() == 0))
    throw std::runtime_error("dropping privileges: group root could be regained after setgid");
}

}  // namespace cppapi
