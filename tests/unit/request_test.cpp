// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include "cppapi/request.hpp"

#include "dispatch/request_access.hpp"

namespace cppapi {
namespace {

const char* const kEnvironment[] = {"REQUEST_METHOD=POST",
                                    "CONTENT_TYPE=application/json",
                                    "CONTENT_LENGTH=2",
                                    "HTTP_USER_AGENT=curl/7.88",
                                    "HTTP_X_FORWARDED_FOR=10.0.0.1",
                                    "HTTP_ACCEPT=",
                                    "HTTPS=on",
                                    "REMOTE_ADDR=127.0.0.1",
                                    nullptr};

Request make() { return detail::RequestAccess::make(kEnvironment, "{}"); }

TEST(RequestHeader, FindsAHeaderByItsHttpName) {
  const Request request = make();
  EXPECT_EQ(request.header("User-Agent"), "curl/7.88");
  EXPECT_EQ(request.header("user-agent"), "curl/7.88");
  EXPECT_EQ(request.header("X-Forwarded-For"), "10.0.0.1");
}

TEST(RequestHeader, ContentTypeAndLengthComeWithoutThePrefix) {
  const Request request = make();
  EXPECT_EQ(request.header("Content-Type"), "application/json");
  EXPECT_EQ(request.header("Content-Length"), "2");
}

TEST(RequestHeader, AbsentAndEmptyHeadersAreEmpty) {
  const Request request = make();
  EXPECT_EQ(request.header("Referer"), "");
  EXPECT_EQ(request.header("Accept"), "");
  EXPECT_EQ(request.header(""), "");
}

TEST(RequestHeader, AParamIsNotAHeader) {
  // REMOTE_ADDR is a CGI parameter; the header "Remote-Addr" would be HTTP_REMOTE_ADDR.
  EXPECT_EQ(make().header("Remote-Addr"), "");
  EXPECT_EQ(make().remote_addr(), "127.0.0.1");
}

TEST(Request, MethodBodyAndHttps) {
  const Request request = make();
  EXPECT_EQ(request.method(), "POST");
  EXPECT_EQ(request.body(), "{}");
  EXPECT_TRUE(request.https());
  EXPECT_EQ(request.call(), "");
  detail::RequestAccess::set_call(const_cast<Request&>(request), "notes/get", Args{"17"});
  EXPECT_EQ(request.call(), "notes/get");
  ASSERT_EQ(request.args().size(), 1u);
  EXPECT_EQ(request.args()[0], "17");
}

}  // namespace
}  // namespace cppapi
