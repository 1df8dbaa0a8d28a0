// SPDX-License-Identifier: MIT
// The generated client files through nginx and the shipped location: /api/openapi.json and
// /api/calls.js with an exact Content-Length, a strong ETag, and 304 on If-None-Match
// (no body, no Content-Length, the same ETag); `--openapi false` turns both off.
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace cppapi::test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using json = nlohmann::json;

struct Servers {
  explicit Servers(std::vector<std::string> args = {})
      : cppapi(dir, CppapiServer::Options{.extra_args = std::move(args)}), nginx(dir, cppapi.socket()) {}
  TempDir dir;
  CppapiServer cppapi;
  NginxServer nginx;
};

void expect_exact_length(const HttpResponse& r) {
  EXPECT_EQ(r.curl_code, CURLE_OK) << r;
  EXPECT_EQ(r.headers.count("content-length"), 1u) << r;
  EXPECT_EQ(r.content_length, r.body.size()) << r;
}

struct FileCase {
  std::string path;
  std::string content_type;
  std::string must_contain;
};

class ClientFilesThroughNginx : public ::testing::TestWithParam<FileCase> {
 protected:
  // A throw here would make gtest skip the suite (ctest: not failed): fail each test instead.
  static void SetUpTestSuite() {
    start_error_.clear();
    try {
      servers_ = std::make_unique<Servers>();
    } catch (const std::exception& e) {
      start_error_ = e.what();
    }
  }
  void SetUp() override { ASSERT_TRUE(servers_) << "servers did not start: " << start_error_; }
  static void TearDownTestSuite() {
    if (!servers_) return;
    servers_->nginx.stop();
    EXPECT_THAT(nginx_complaints(servers_->nginx.error_log()), IsEmpty());
    EXPECT_EQ(servers_->cppapi.stop(), (ExitStatus{0, 0})) << servers_->cppapi.log();
    servers_.reset();
  }
  static HttpResponse request(std::string_view method, const std::vector<std::string>& headers = {}) {
    return http(method, servers_->nginx.url(GetParam().path), {}, headers);
  }
  static inline std::unique_ptr<Servers> servers_;
  static inline std::string start_error_;
};

TEST_P(ClientFilesThroughNginx, ExactLengthAndStrongEtag) {
  const HttpResponse r = request("GET");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.header("content-type"), GetParam().content_type) << r;
  expect_exact_length(r);
  EXPECT_THAT(r.body, HasSubstr(GetParam().must_contain));
  const std::string etag = r.header("etag");
  EXPECT_THAT(etag, StartsWith("\"")) << "a strong ETag, not W/: " << r;
  EXPECT_EQ(etag.size(), 18u) << r;
  EXPECT_EQ(r.header("cache-control"), "no-cache") << r;
  // The same bytes again, the same tag.
  const HttpResponse again = request("GET");
  EXPECT_EQ(again.body, r.body);
  EXPECT_EQ(again.header("etag"), etag);
  // HEAD: the same head, no body.
  const HttpResponse head = request("HEAD");
  EXPECT_EQ(head.status, 200) << head;
  EXPECT_EQ(head.content_length, r.body.size()) << head;
  EXPECT_EQ(head.header("etag"), etag);
  EXPECT_EQ(head.body, "");
}

TEST_P(ClientFilesThroughNginx, IfNoneMatchIs304WithNoBody) {
  const std::string etag = request("GET").header("etag");
  ASSERT_FALSE(etag.empty());
  for (const std::string& condition : {etag, "\"0000000000000000\", " + etag, "W/" + etag}) {
    const HttpResponse r = request("GET", {"If-None-Match: " + condition});
    EXPECT_EQ(r.curl_code, CURLE_OK) << r;
    EXPECT_EQ(r.status, 304) << condition << "\n" << r;
    EXPECT_EQ(r.body, "") << r;
    EXPECT_EQ(r.headers.count("content-length"), 0u) << "a 304 carries no Content-Length: " << r;
    EXPECT_EQ(r.headers.count("transfer-encoding"), 0u) << r;
    EXPECT_EQ(r.header("etag"), etag) << r;
    EXPECT_EQ(r.header("cache-control"), "no-cache") << r;
  }
  const HttpResponse changed = request("GET", {"If-None-Match: \"0000000000000000\""});
  EXPECT_EQ(changed.status, 200) << changed;
  expect_exact_length(changed);
}

INSTANTIATE_TEST_SUITE_P(
    Files, ClientFilesThroughNginx,
    ::testing::Values(FileCase{"/api/openapi.json", "application/json", "\"openapi\": \"3.1.0\""},
                      FileCase{"/api/calls.js", "text/javascript; charset=utf-8", "calls.add = call(\"add\""}),
    [](const ::testing::TestParamInfo<FileCase>& info) { return info.index == 0 ? "OpenApiJson" : "CallsJs"; });

TEST(ClientFilesThroughNginxOff, OpenapiFalseAnswers404) {
  Servers servers({"--openapi", "false"});
  for (const char* path : {"/api/openapi.json", "/api/calls.js"}) {
    const HttpResponse r = http("GET", servers.nginx.url(path));
    EXPECT_EQ(r.status, 404) << r;
    EXPECT_EQ(r.header("content-type"), "application/json") << r;
    expect_exact_length(r);
    EXPECT_EQ(json::parse(r.body, nullptr, false)["status"], 404) << r;
  }
  const HttpResponse call = http("GET", servers.nginx.url("/api/add&2&3"));
  EXPECT_EQ(call.body, "5") << call;
  servers.nginx.stop();
  EXPECT_THAT(nginx_complaints(servers.nginx.error_log()), IsEmpty());
  EXPECT_EQ(servers.cppapi.stop(), (ExitStatus{0, 0})) << servers.cppapi.log();
}

}  // namespace
}  // namespace cppapi::test
