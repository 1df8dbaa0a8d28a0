// SPDX-License-Identifier: MIT
// lighttpd's and Apache's own balancing over several cppapi hosts, from the shipped
// deploy/lighttpd/cppapi-hosts.conf and deploy/apache/cppapi-hosts.conf with only
// addresses and ports replaced: every host takes a share, and a host that is gone is
// skipped without a failed request. (nginx's upstream, with kill -9 under load and a
// rolling upgrade, is tests/hosts/many_hosts_test.py.)
#include <array>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "harness.hpp"

namespace cppapi::test {
namespace {

constexpr int kHosts = 3;
constexpr int kRequests = 60;

int served_adds(const std::string& log) { return static_cast<int>(grep_lines(log, {" GET add 200 "}).size()); }

class ManyHostsTest : public testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < kHosts; ++i) {
      dirs_[i] = std::make_unique<TempDir>();
      ports_[i] = free_port();
      CppapiServer::Options options;
      options.tcp_port = ports_[i];
      options.threads = 2;
      hosts_[i] = std::make_unique<CppapiServer>(*dirs_[i], options);
    }
  }

  /// `requests` GETs of add&i&1 through `url_of`, each checked; returns how many failed.
  template <class UrlOf>
  int failed_requests(UrlOf url_of, int requests) {
    int failed = 0;
    for (int i = 0; i < requests; ++i) {
      const HttpResponse response = http("GET", url_of("/api/add&" + std::to_string(i) + "&1"));
      if (response.status != 200 || response.body != std::to_string(i + 1)) {
        ADD_FAILURE() << "request " << i << ": " << response;
        ++failed;
      }
    }
    return failed;
  }

  void expect_every_host_served() {
    for (int i = 0; i < kHosts; ++i) EXPECT_GT(served_adds(hosts_[i]->log()), 0) << "host " << i << " took no share";
  }

  std::array<std::unique_ptr<TempDir>, kHosts> dirs_;
  std::array<int, kHosts> ports_{};
  std::array<std::unique_ptr<CppapiServer>, kHosts> hosts_;
  TempDir front_dir_;
};

TEST_F(ManyHostsTest, LighttpdBalancesAndSkipsAHostThatIsGone) {
  Substitutions substitutions;
  for (int i = 0; i < kHosts; ++i)
    substitutions.push_back({"\"host\" => \"192.0.2.1" + std::to_string(i + 1) + "\", \"port\" => 9000",
                             "\"host\" => \"127.0.0.1\", \"port\" => " + std::to_string(ports_[i])});
  LighttpdServer lighttpd(front_dir_, deploy_file("lighttpd/cppapi-hosts.conf", substitutions));
  const auto url = [&](const std::string& path) { return lighttpd.url(path); };
  EXPECT_EQ(failed_requests(url, kRequests), 0);
  expect_every_host_served();
  EXPECT_EQ(hosts_[1]->stop(), (ExitStatus{0, 0}));
  EXPECT_EQ(failed_requests(url, kRequests), 0) << "a stopped host must be skipped";
  EXPECT_TRUE(lighttpd_complaints(lighttpd.error_log()).size() <= 2u) << lighttpd.error_log();
}

TEST_F(ManyHostsTest, ApacheBalancesAndSkipsAHostThatIsGone) {
  Substitutions substitutions;
  for (int i = 0; i < kHosts; ++i)
    substitutions.push_back(
        {"fcgi://192.0.2.1" + std::to_string(i + 1) + ":9000", "fcgi://127.0.0.1:" + std::to_string(ports_[i])});
  ApacheServer::Options options;
  options.modules = {"proxy", "proxy_fcgi", "proxy_balancer", "lbmethod_byrequests", "slotmem_shm"};
  options.config = deploy_file("apache/cppapi-hosts.conf", substitutions);
  ApacheServer apache(front_dir_, options);
  const auto url = [&](const std::string& path) { return apache.url(path); };
  EXPECT_EQ(failed_requests(url, kRequests), 0);
  expect_every_host_served();
  EXPECT_EQ(hosts_[1]->stop(), (ExitStatus{0, 0}));
  EXPECT_EQ(failed_requests(url, kRequests), 0) << "a stopped host must be skipped";
}

}  // namespace
}  // namespace cppapi::test
