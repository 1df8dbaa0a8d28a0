// SPDX-License-Identifier: MIT
#include <arpa/inet.h>
#include <sys/un.h>

#include <stdexcept>

#include <gtest/gtest.h>

#include "core/config.hpp"
#include "fastcgi/peer_allow_list.hpp"
#include "process/privileges.hpp"

namespace cppapi {
namespace {

sockaddr_in v4(const char* text) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  EXPECT_EQ(::inet_pton(AF_INET, text, &address.sin_addr), 1) << text;
  return address;
}

sockaddr_in6 v6(const char* text) {
  sockaddr_in6 address{};
  address.sin6_family = AF_INET6;
  EXPECT_EQ(::inet_pton(AF_INET6, text, &address.sin6_addr), 1) << text;
  return address;
}

template <class Address>
bool allows(const PeerAllowList& list, const Address& address) {
  return list.allows(reinterpret_cast<const sockaddr*>(&address), sizeof address);
}

TEST(PeerAllowList, EmptyAllowsEveryone) {
  const PeerAllowList list = PeerAllowList::from({}, nullptr);
  EXPECT_TRUE(list.allows_all());
  EXPECT_TRUE(allows(list, v4("203.0.113.9")));
  EXPECT_TRUE(allows(list, v6("2001:db8::1")));
  EXPECT_EQ(list.describe(), "any address");
}

// Only a list never given means everyone; one given but empty (a typo, a template left
// blank) must stop the start instead of opening the port to all.
TEST(PeerAllowList, AnEmptyListGivenIsRefused) {
  for (const char* empty : {"", " ", ",", " , ,\t"}) {
    try {
      (void)PeerAllowList::parse(empty);
      ADD_FAILURE() << "accepted \"" << empty << "\"";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("an empty list"), std::string::npos) << error.what();
    }
  }
  try {
    (void)PeerAllowList::from({}, ",");
    ADD_FAILURE() << "FCGI_WEB_SERVER_ADDRS=, accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("FCGI_WEB_SERVER_ADDRS: an empty list"), std::string::npos)
        << error.what();
  }
  EXPECT_THROW((void)PeerAllowList::from({}, ""), std::invalid_argument);
  EXPECT_THROW((void)PeerAllowList::from({"127.0.0.1", ""}, nullptr), std::invalid_argument);
  Settings settings;
  EXPECT_THROW(apply_setting(settings, "allow_from", " , "), std::invalid_argument);
}

TEST(PeerAllowList, ExactIpv4AndIpv6) {
  const PeerAllowList list = PeerAllowList::parse("127.0.0.1, ::1 ,2001:db8::7");
  EXPECT_TRUE(allows(list, v4("127.0.0.1")));
  EXPECT_FALSE(allows(list, v4("127.0.0.2")));
  EXPECT_FALSE(allows(list, v4("0.0.0.0")));
  EXPECT_TRUE(allows(list, v6("::1")));
  EXPECT_TRUE(allows(list, v6("2001:db8:0::7")));
  EXPECT_FALSE(allows(list, v6("2001:db8::8")));
  EXPECT_FALSE(allows(list, v6("::")));
  EXPECT_EQ(list.describe(), "127.0.0.1, ::1, 2001:db8::7");
}

TEST(PeerAllowList, Ipv4MappedPeersMatchTheirIpv4Entry) {
  const PeerAllowList list = PeerAllowList::parse("10.0.0.5");
  EXPECT_TRUE(allows(list, v6("::ffff:10.0.0.5")));
  EXPECT_FALSE(allows(list, v6("::ffff:10.0.0.6")));
  const PeerAllowList mapped = PeerAllowList::parse("::ffff:10.0.0.5");
  EXPECT_TRUE(allows(mapped, v4("10.0.0.5")));
}

TEST(PeerAllowList, UnixPeersAreNeverChecked) {
  const PeerAllowList list = PeerAllowList::parse("127.0.0.1");
  sockaddr_un unnamed{};
  unnamed.sun_family = AF_UNIX;
  EXPECT_TRUE(list.allows(reinterpret_cast<const sockaddr*>(&unnamed), sizeof(sa_family_t)));
}

TEST(PeerAllowList, ShortOrUnknownAddressesAreRefused) {
  const PeerAllowList list = PeerAllowList::parse("127.0.0.1");
  const sockaddr_in address = v4("127.0.0.1");
  EXPECT_FALSE(list.allows(reinterpret_cast<const sockaddr*>(&address), 4));
  EXPECT_FALSE(list.allows(nullptr, 0));
  sockaddr other{};
  other.sa_family = AF_PACKET;
  EXPECT_FALSE(list.allows(&other, sizeof other));
}

TEST(PeerAllowList, BadEntriesAreRefusedByName) {
  for (const char* bad :
       {"localhost", "127.0.0.0/8", "127.0.0.1:9000", "1.2.3", "::1%lo", "[::1]", "1.2.3.4 5.6.7.8"}) {
    try {
      PeerAllowList::parse(bad);
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::invalid_argument& error) {
      EXPECT_NE(std::string(error.what()).find("expected IP addresses"), std::string::npos) << error.what();
    }
  }
}

TEST(PeerAllowList, FlagWinsOverTheLibfcgiVariable) {
  const PeerAllowList flag = PeerAllowList::from({"127.0.0.1", "::1,127.0.0.3"}, "127.0.0.2");
  EXPECT_TRUE(allows(flag, v4("127.0.0.3")));
  EXPECT_FALSE(allows(flag, v4("127.0.0.2")));
  const PeerAllowList variable = PeerAllowList::from({}, "127.0.0.2 , 127.0.0.4");
  EXPECT_TRUE(allows(variable, v4("127.0.0.2")));
  EXPECT_TRUE(allows(variable, v4("127.0.0.4")));
  EXPECT_FALSE(allows(variable, v4("127.0.0.1")));
  EXPECT_THROW(PeerAllowList::from({}, "nginx.local"), std::invalid_argument);
}

TEST(PeerAllowList, ConfigKeyIsRepeatableAndChecked) {
  Settings settings;
  apply_setting(settings, "allow-from", "127.0.0.1");
  apply_setting(settings, "allow_from", "::1, 10.0.0.1");
  EXPECT_EQ(settings.allow_from, (std::vector<std::string>{"127.0.0.1", "::1, 10.0.0.1"}));
  EXPECT_THROW(apply_setting(settings, "allow_from", "10.0.0.0/8"), std::invalid_argument);
}

TEST(Privileges, SettingsKeys) {
  Settings settings;
  EXPECT_EQ(settings.socket_mode, "0660");  // never world-writable by default
  apply_setting(settings, "user", "www-data");
  apply_setting(settings, "group", "www-data");
  apply_setting(settings, "socket-owner", "www-data");
  apply_setting(settings, "socket_group", "33");
  EXPECT_EQ(settings.user, "www-data");
  EXPECT_EQ(settings.group, "www-data");
  EXPECT_EQ(settings.socket_owner, "www-data");
  EXPECT_EQ(settings.socket_group, "33");
}

TEST(Privileges, FindsUsersAndGroupsByNameOrNumber) {
  const Account root = find_user("root");
  EXPECT_EQ(root.uid, 0u);
  EXPECT_EQ(root.gid, 0u);
  EXPECT_EQ(find_user("0").name, "root");
  EXPECT_EQ(find_group("root"), 0u);
  EXPECT_EQ(find_group("0"), 0u);
  EXPECT_THROW(find_user("no-such-user-cppapi"), std::runtime_error);
  EXPECT_THROW(find_group("no-such-group-cppapi"), std::runtime_error);
  try {
    find_user("nobodyx");
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "no such user \"nobodyx\"");
  }
}

}  // namespace
}  // namespace cppapi
