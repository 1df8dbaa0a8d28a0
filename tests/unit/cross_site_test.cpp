// SPDX-License-Identifier: MIT
// The cross-site guard: which header combinations a call runs for (issue #10).
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "dispatch/dispatcher.hpp"
#include "dispatch/request_access.hpp"
#include "dispatch_support.hpp"

namespace cppapi {
namespace {

long add(long a, long b) { return a + b; }
const detail::CallRecord kAdd = detail::make_record<&add>("add", "long a, long b");
const detail::CallRecord* const kTable[] = {&kAdd};

class CrossSiteTest : public testing::Test {
 protected:
  /// GET /api/add&2&3 to host app.example:8080 (http unless HTTPS=on or REQUEST_SCHEME) with `params`.
  Reply send(std::vector<std::string> params, std::string method = "GET") {
    std::vector<std::string> all = {"REQUEST_METHOD=" + method, "REQUEST_URI=/api/add&2&3"};
    all.insert(all.end(), params.begin(), params.end());
    all.insert(all.end(), environment_extra_.begin(), environment_extra_.end());
    return test::dispatch(registry_, settings_, all);
  }
  void expect_refused(const std::vector<std::string>& params, const std::string& method = "GET") {
    const Reply reply = send(params, method);
    EXPECT_EQ(reply.status, 403) << testing::PrintToString(params) << " " << method;
    EXPECT_EQ(reply.content_type, "application/json");
    const auto body = nlohmann::json::parse(reply.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << reply.status << " " << reply.body;
    EXPECT_EQ(body.value("status", 0), 403);
    EXPECT_NE(body.value("error", "").find("cross-site"), std::string::npos) << reply.body;
  }
  void expect_served(const std::vector<std::string>& params, const std::string& method = "GET") {
    const Reply reply = send(params, method);
    EXPECT_EQ(reply.status, 200) << testing::PrintToString(params) << " " << method << ": " << reply.body;
  }
  static std::string header(const Reply& reply, std::string_view name) { return test::reply_header(reply, name); }

  Registry registry_{kTable};
  Settings settings_;
  std::vector<std::string> environment_extra_{"HTTP_HOST=app.example:8080"};  ///< after `params`: they win
};

TEST_F(CrossSiteTest, RequestsWithoutBrowserHeadersPass) { expect_served({}); }

TEST_F(CrossSiteTest, SameOriginAndUserNavigationPass) {
  expect_served({"HTTP_SEC_FETCH_SITE=same-origin"});
  expect_served({"HTTP_SEC_FETCH_SITE=same-origin", "HTTP_ORIGIN=http://app.example:8080"}, "POST");
  expect_served({"HTTP_SEC_FETCH_SITE=none"});
}

TEST_F(CrossSiteTest, CrossSiteIsRefusedForEveryMethodThatRunsACall) {
  for (const char* method : {"GET", "HEAD", "POST"}) {
    expect_refused({"HTTP_SEC_FETCH_SITE=cross-site"}, method);  // <img src>, <form>: maybe no Origin
    expect_refused({"HTTP_SEC_FETCH_SITE=cross-site", "HTTP_ORIGIN=https://evil.example"}, method);
  }
}

TEST_F(CrossSiteTest, SameSiteIsAnotherOrigin) {
  expect_refused({"HTTP_SEC_FETCH_SITE=same-site", "HTTP_ORIGIN=http://blog.example:8080"});
  expect_refused({"HTTP_SEC_FETCH_SITE=same-site"});
  settings_.cors_origins = {"http://blog.example:8080"};
  expect_served({"HTTP_SEC_FETCH_SITE=same-site", "HTTP_ORIGIN=http://blog.example:8080"});
}

TEST_F(CrossSiteTest, WithoutSecFetchSiteTheOriginDecides) {
  expect_served({"HTTP_ORIGIN=http://app.example:8080"});
  expect_refused({"HTTP_ORIGIN=https://evil.example"});
  expect_refused({"HTTP_ORIGIN=null"});                      // sandboxed frames, file: pages
  expect_refused({"HTTP_ORIGIN=https://app.example:8080"});  // another scheme is another origin
  expect_refused({"HTTP_ORIGIN=http://app.example:8080.evil.example"});
  expect_served({"HTTP_ORIGIN=https://app.example:8080", "HTTPS=on"});
  expect_served({"HTTP_ORIGIN=https://app.example:8080", "REQUEST_SCHEME=https"});
  expect_refused({"HTTP_ORIGIN=http://app.example:8080", "HTTPS=on"});
  expect_served({"HTTP_ORIGIN=http://APP.example:8080", "REQUEST_SCHEME=http"});
}

// Debian's fastcgi_params pass HTTP_HOST as nginx's $host, without the port.
TEST_F(CrossSiteTest, AHostWithoutPortTakesServerPort) {
  environment_extra_ = {"HTTP_HOST=app.example", "SERVER_PORT=8080"};
  expect_served({"HTTP_ORIGIN=http://app.example:8080"});
  expect_refused({"HTTP_ORIGIN=http://app.example:9090"});
  expect_served({"HTTP_ORIGIN=http://app.example"});
}

TEST_F(CrossSiteTest, CorsOriginsMayCallCrossSite) {
  settings_.cors_origins = {"https://partner.example"};
  const Reply reply = send({"HTTP_SEC_FETCH_SITE=cross-site", "HTTP_ORIGIN=https://partner.example"});
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(header(reply, "Access-Control-Allow-Origin"), "https://partner.example");
  expect_served({"HTTP_ORIGIN=https://partner.example"});
  expect_refused({"HTTP_SEC_FETCH_SITE=cross-site", "HTTP_ORIGIN=https://evil.example"});
  expect_refused({"HTTP_SEC_FETCH_SITE=cross-site"});  // no Origin: not a CORS request
}

TEST_F(CrossSiteTest, CorsWildcardLetsEveryOriginCallButNotOriginlessCrossSite) {
  settings_.cors_origins = {"*"};
  expect_served({"HTTP_SEC_FETCH_SITE=cross-site", "HTTP_ORIGIN=https://any.example"});
  expect_refused({"HTTP_SEC_FETCH_SITE=cross-site"});
}

TEST_F(CrossSiteTest, PreflightIsUnchanged) {
  settings_.cors_origins = {"https://partner.example"};
  const Reply allowed = send({"HTTP_SEC_FETCH_SITE=cross-site", "HTTP_ORIGIN=https://partner.example"}, "OPTIONS");
  EXPECT_EQ(allowed.status, 204);
  EXPECT_EQ(header(allowed, "Access-Control-Allow-Methods"), "GET, HEAD, POST, OPTIONS");
  EXPECT_EQ(header(allowed, "Access-Control-Allow-Origin"), "https://partner.example");
  const Reply other = send({"HTTP_SEC_FETCH_SITE=cross-site", "HTTP_ORIGIN=https://evil.example"}, "OPTIONS");
  EXPECT_EQ(other.status, 204);
  EXPECT_EQ(header(other, "Access-Control-Allow-Methods"), "<none>");
}

TEST_F(CrossSiteTest, TheGuardCanBeTurnedOff) {
  settings_.cross_site_guard = false;
  expect_served({"HTTP_SEC_FETCH_SITE=cross-site"});
  expect_served({"HTTP_ORIGIN=https://evil.example"}, "POST");
  apply_setting(settings_, "cross_site_guard", "true");
  EXPECT_TRUE(settings_.cross_site_guard);
}

}  // namespace
}  // namespace cppapi
