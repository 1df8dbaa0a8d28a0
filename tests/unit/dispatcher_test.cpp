// SPDX-License-Identifier: MIT
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "dispatch/dispatcher.hpp"
#include "dispatch/request_access.hpp"
#include "dispatch_support.hpp"

namespace cppapi {
namespace {

long add(long a, long b) { return a + b; }
std::string boom() { throw std::runtime_error("secret /etc/shadow"); }
int boom_int() { throw 42; }
Reply inject(std::string value) { return Reply::text("x").header("X-Value", value); }

const detail::CallRecord kAdd = detail::make_record<&add>("add", "long a, long b");
const detail::CallRecord kBoom = detail::make_record<&boom>("boom", "");
const detail::CallRecord kBoomInt = detail::make_record<&boom_int>("boom_int", "");
const detail::CallRecord kInject = detail::make_record<&inject>("inject", "std::string value");
const detail::CallRecord* const kTable[] = {&kAdd, &kBoom, &kBoomInt, &kInject};

class DispatcherTest : public testing::Test {
 protected:
  Reply send(std::string method, std::string uri, std::string origin = "") {
    std::vector<std::string> params = {"REQUEST_METHOD=" + method, "REQUEST_URI=" + uri};
    if (!origin.empty()) params.push_back("HTTP_ORIGIN=" + origin);
    return test::dispatch(registry_, settings_, params);
  }
  static std::string header(const Reply& reply, std::string_view name) { return test::reply_header(reply, name); }
  static nlohmann::json error_json(const Reply& reply) {
    EXPECT_EQ(reply.content_type, "application/json");
    return nlohmann::json::parse(reply.body);
  }

  Registry registry_{kTable};
  Settings settings_;
};

TEST_F(DispatcherTest, ServesGetHeadAndPost) {
  for (const char* method : {"GET", "HEAD", "POST"}) {
    const Reply reply = send(method, "/api/add&2&3");
    EXPECT_EQ(reply.status, 200) << method;
    EXPECT_EQ(reply.body, "5") << method;
  }
}

TEST_F(DispatcherTest, ErrorsAreJsonWithStatusAndCall) {
  const nlohmann::json bad = error_json(send("GET", "/api/add&2&x"));
  EXPECT_EQ(bad["status"], 400);
  EXPECT_EQ(bad["call"], "add");
  EXPECT_EQ(bad["error"], "argument 2: expected integer, got \"x\"");

  const Reply unknown = send("GET", "/api/nope&1");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(error_json(unknown)["call"], "nope");
  EXPECT_EQ(error_json(unknown)["error"], "no such call: nope");
}

TEST_F(DispatcherTest, OtherMethodsAre405WithAllow) {
  for (const char* method : {"PUT", "DELETE", "PATCH", "TRACE", ""}) {
    const Reply reply = send(method, "/api/add&2&3");
    EXPECT_EQ(reply.status, 405) << method;
    EXPECT_EQ(header(reply, "Allow"), "GET, HEAD, POST, OPTIONS");
    EXPECT_EQ(error_json(reply)["status"], 405);
  }
}

TEST_F(DispatcherTest, HandlerFailureIs500WithoutDetail) {
  for (const char* call : {"/api/boom", "/api/boom_int"}) {
    const Reply reply = send("GET", call);
    EXPECT_EQ(reply.status, 500);
    EXPECT_EQ(error_json(reply)["error"], "internal error");
    EXPECT_EQ(reply.body.find("secret"), std::string::npos);
  }
  settings_.debug = true;
  EXPECT_NE(send("GET", "/api/boom").body.find("secret"), std::string::npos);
}

TEST_F(DispatcherTest, HeaderInjectionBecomes500) {
  EXPECT_EQ(send("GET", "/api/inject&fine").status, 200);
  const Reply reply = send("GET", "/api/inject&a%0D%0ASet-Cookie:%20x=1");
  EXPECT_EQ(reply.status, 500);
  EXPECT_EQ(header(reply, "Set-Cookie"), "<none>");
}

TEST_F(DispatcherTest, EchoedInputStaysValidJson) {
  const Reply reply = send("GET", "/api/no\xff\"pe");
  EXPECT_EQ(reply.status, 400);
  EXPECT_NO_THROW(nlohmann::json::parse(reply.body));
}

TEST_F(DispatcherTest, CorsIsOffByDefault) {
  const Reply reply = send("GET", "/api/add&1&1", "https://elsewhere.example");
  EXPECT_EQ(header(reply, "Access-Control-Allow-Origin"), "<none>");
  const Reply preflight = send("OPTIONS", "/api/add&1&1", "https://elsewhere.example");
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(header(preflight, "Access-Control-Allow-Methods"), "<none>");
}

TEST_F(DispatcherTest, CorsAllowListedOrigins) {
  settings_.cors_origins = {"https://app.example"};
  const Reply allowed = send("GET", "/api/add&1&1", "https://app.example");
  EXPECT_EQ(header(allowed, "Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(header(allowed, "Vary"), "Origin");
  EXPECT_EQ(header(send("GET", "/api/add&1&x", "https://app.example"), "Access-Control-Allow-Origin"),
            "https://app.example");  // errors too, so the page can read them
  EXPECT_EQ(header(send("GET", "/api/add&1&1", "https://evil.example"), "Access-Control-Allow-Origin"), "<none>");
  const Reply preflight = send("OPTIONS", "/api/add", "https://app.example");
  EXPECT_EQ(preflight.status, 204);
  EXPECT_EQ(header(preflight, "Access-Control-Allow-Methods"), "GET, HEAD, POST, OPTIONS");
  EXPECT_EQ(header(preflight, "Access-Control-Allow-Origin"), "https://app.example");
}

TEST_F(DispatcherTest, CorsWildcardNeverEchoesTheOrigin) {
  settings_.cors_origins = {"*"};
  EXPECT_EQ(header(send("GET", "/api/add&1&1", "https://x.example\r\nX: y"), "Access-Control-Allow-Origin"), "*");
}

}  // namespace
}  // namespace cppapi
