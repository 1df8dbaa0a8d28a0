// SPDX-License-Identifier: MIT
// GET <prefix>openapi.json and <prefix>calls.js through the dispatcher: bytes, ETag,
// If-None-Match -> 304, HEAD, POST refused, and `openapi = false`.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "dispatch/client_files.hpp"
#include "dispatch/dispatcher.hpp"
#include "dispatch/js_proxies.hpp"
#include "dispatch/openapi.hpp"
#include "dispatch/request_access.hpp"
#include "dispatch_support.hpp"

namespace cppapi {
namespace {

class ClientFilesTest : public testing::Test {
 protected:
  Reply send(std::string method, std::string uri, std::string if_none_match = "") {
    std::vector<std::string> params = {"REQUEST_METHOD=" + method, "REQUEST_URI=" + uri};
    if (!if_none_match.empty()) params.push_back("HTTP_IF_NONE_MATCH=" + if_none_match);
    return test::dispatch(registry_, settings_, params);
  }
  static std::string header(const Reply& reply, std::string_view name) { return test::reply_header(reply, name); }

  Registry registry_{generated_call_table()};
  Settings settings_;
};

TEST_F(ClientFilesTest, ServesTheOpenApiDocumentWithAStrongEtag) {
  const Reply reply = send("GET", "/api/openapi.json");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, "application/json");
  EXPECT_EQ(reply.body, openapi_document(registry_, "/api/"));
  EXPECT_EQ(header(reply, "ETag"), ClientFiles::etag(reply.body));
  EXPECT_EQ(header(reply, "ETag").size(), 18u);  // "<16 hex digits>"
  EXPECT_EQ(header(reply, "Cache-Control"), "no-cache");
  EXPECT_EQ(send("GET", "/api/openapi.json?x=1").body, reply.body);  // the query is ignored
}

TEST_F(ClientFilesTest, ServesTheProxies) {
  const Reply reply = send("GET", "/api/calls.js");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(reply.body, js_proxies(registry_));
  EXPECT_NE(header(reply, "ETag"), send("GET", "/api/openapi.json").headers.at(0).second);
}

TEST_F(ClientFilesTest, IfNoneMatchAnswers304WithoutABody) {
  for (const char* file : {"/api/openapi.json", "/api/calls.js"}) {
    const std::string tag = header(send("GET", file), "ETag");
    for (const std::string& condition : {tag, "W/" + tag, "\"other\", " + tag, std::string("*")}) {
      const Reply reply = send("GET", file, condition);
      EXPECT_EQ(reply.status, 304) << file << " " << condition;
      EXPECT_EQ(reply.body, "") << condition;
      EXPECT_EQ(header(reply, "ETag"), tag);
    }
    EXPECT_EQ(send("GET", file, "\"other\"").status, 200);
    EXPECT_EQ(send("HEAD", file, tag).status, 304);
  }
}

TEST_F(ClientFilesTest, HeadGetsTheSameHeadAndPostIsRefused) {
  const Reply get = send("GET", "/api/openapi.json");
  const Reply head = send("HEAD", "/api/openapi.json");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body.size(), get.body.size());  // the writer drops the body of a HEAD
  EXPECT_EQ(header(head, "ETag"), header(get, "ETag"));
  const Reply post = send("POST", "/api/calls.js");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(header(post, "Allow"), "GET, HEAD");
  EXPECT_EQ(nlohmann::json::parse(post.body)["call"], "calls.js");
}

TEST_F(ClientFilesTest, FollowsThePrefixAndCanBeTurnedOff) {
  settings_.prefix = "/v1/";
  EXPECT_EQ(send("GET", "/v1/openapi.json").status, 200);
  EXPECT_EQ(nlohmann::json::parse(send("GET", "/v1/openapi.json").body)["servers"][0]["url"], "/v1");
  apply_setting(settings_, "openapi", "false");
  EXPECT_FALSE(settings_.openapi);
  for (const char* file : {"/v1/openapi.json", "/v1/calls.js"}) {
    const Reply reply = send("GET", file);
    EXPECT_EQ(reply.status, 404) << file;
    EXPECT_EQ(reply.content_type, "application/json");
  }
  EXPECT_EQ(send("GET", "/v1/add&2&3").body, "5");       // calls are unaffected
  EXPECT_EQ(send("GET", "/v1/other.json").status, 400);  // not a call name, as before
}

TEST(ClientFilesEtag, IsStableAndChangesWithTheBytes) {
  EXPECT_EQ(ClientFiles::etag(""), "\"cbf29ce484222325\"");
  EXPECT_EQ(ClientFiles::etag("a"), ClientFiles::etag("a"));
  EXPECT_NE(ClientFiles::etag("a"), ClientFiles::etag("b"));
  EXPECT_TRUE(ClientFiles::matches(" \"x\" ,\"y\"", "\"y\""));
  EXPECT_FALSE(ClientFiles::matches("", "\"y\""));
  EXPECT_FALSE(ClientFiles::matches("\"yy\"", "\"y\""));
}

}  // namespace
}  // namespace cppapi
