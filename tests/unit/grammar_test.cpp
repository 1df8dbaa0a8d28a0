// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include "cppapi/http_error.hpp"

#include "dispatch/grammar.hpp"

namespace cppapi {
namespace {

struct GoodCase {
  const char* uri;
  const char* name;
  Args args;
};

class ParsesGoodCalls : public testing::TestWithParam<GoodCase> {};

TEST_P(ParsesGoodCalls, NameAndArguments) {
  const GoodCase& c = GetParam();
  const ParsedCall parsed = parse_call(c.uri, "/api/", Limits{});
  EXPECT_EQ(parsed.name, c.name);
  EXPECT_EQ(parsed.args, c.args);
}

INSTANTIATE_TEST_SUITE_P(Grammar, ParsesGoodCalls,
                         testing::Values(GoodCase{"/api/add&2&3", "add", {"2", "3"}},
                                         GoodCase{"/api/serverTime", "serverTime", {}},
                                         GoodCase{"/api/notes/get&17", "notes/get", {"17"}},
                                         GoodCase{"/api/a-b_c/D9&x", "a-b_c/D9", {"x"}},
                                         GoodCase{"/api/echo&a%26b", "echo", {"a&b"}},  // %26 stays inside its argument
                                         GoodCase{"/api/echo&1+1", "echo", {"1+1"}},    // + is a plus, not a space
                                         GoodCase{"/api/echo&a%20b%2Fc", "echo", {"a b/c"}},
                                         GoodCase{"/api/echo&%C3%BC", "echo", {"\xC3\xBC"}},
                                         GoodCase{"/api/echo&", "echo", {""}},  // one empty argument
                                         GoodCase{"/api/echo&&", "echo", {"", ""}},
                                         GoodCase{"/api/echo&x?y=1&z", "echo", {"x"}},  // the query is ignored
                                         GoodCase{"/api/echo?&a", "echo", {}},
                                         GoodCase{"/api/echo&%2525", "echo", {"%25"}},  // decoded once only
                                         GoodCase{"/api/echo&%e2%9c%93", "echo", {"\xE2\x9C\x93"}}));

struct BadCase {
  const char* uri;
  int status;
  const char* message_part;
};

class RefusesBadCalls : public testing::TestWithParam<BadCase> {};

TEST_P(RefusesBadCalls, WithStatusAndReason) {
  const BadCase& c = GetParam();
  try {
    parse_call(c.uri, "/api/", Limits{});
    FAIL() << "parsed " << c.uri;
  } catch (const HttpError& error) {
    EXPECT_EQ(error.status(), c.status) << c.uri;
    EXPECT_NE(std::string(error.what()).find(c.message_part), std::string::npos) << error.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, RefusesBadCalls,
    testing::Values(BadCase{"", 400, "missing REQUEST_URI"}, BadCase{"/api/", 400, "missing call name"},
                    BadCase{"/api/&1", 400, "missing call name"}, BadCase{"/other/add", 404, "not a call"},
                    BadCase{"/api/../etc/passwd", 400, "dot segment"}, BadCase{"/api/a/../b", 400, "dot segment"},
                    BadCase{"/api/a//b", 400, "bad call name"}, BadCase{"/api/a/", 400, "bad call name"},
                    BadCase{"/api//a", 400, "bad call name"}, BadCase{"/api/a.b", 400, "bad call name"},
                    BadCase{"/api/ad%64", 400, "bad call name"}, BadCase{"/api/a b", 400, "bad call name"},
                    BadCase{"/api/echo&%", 400, "argument 1: bad percent-escape"},
                    BadCase{"/api/echo&ok&%4", 400, "argument 2: bad percent-escape"},
                    BadCase{"/api/echo&%zz", 400, "bad percent-escape"}, BadCase{"/api/echo&%00", 400, "NUL byte"},
                    BadCase{"/api/echo&a\r\nb", 400, "control byte 0x0d"},
                    BadCase{"/api/echo&\x01", 400, "control byte 0x01"},
                    BadCase{"/api/echo&a\x7f", 400, "control byte 0x7f"},
                    BadCase{"/api/echo?q=\t", 400, "control byte 0x09"}));

// A front server picks its location from the path after decoding %2e and %2f and removing
// dot segments, while cppapi reads the raw text: `/api/admin/purge&/../../x` would reach
// admin/purge through a server that saw only /api/x. Any dot segment, in any spelling, is a 400.
TEST(Grammar, DotSegmentsAnywhereInThePathAre400) {
  for (const char* uri :
       {"/api/admin/purge&/../../x", "/api/admin/purge&/..", "/api/admin/purge&x/./y", "/api/admin/purge&/.",
        "/api/admin/purge&/%2e%2e", "/api/admin/purge&/%2E%2E/x", "/api/admin/purge&/.%2e/x",
        "/api/admin/purge&x%2F..%2F..%2Fy", "/api/admin/purge&x%2f..", "/api/admin/purge&%2F%2E",
        "/api/admin/purge&a&/../../x?q=1", "/api/./add&1&2", "/api/x/../admin/purge", "/api/admin/purge&%3F/../x"}) {
    try {
      parse_call(uri, "/api/", Limits{});
      ADD_FAILURE() << "parsed " << uri;
    } catch (const HttpError& error) {
      EXPECT_EQ(error.status(), 400) << uri;
      EXPECT_NE(std::string(error.what()).find("dot segment"), std::string::npos) << uri << ": " << error.what();
    }
  }
}

// Dots that no front server resolves pass: inside a segment, after `&`, in the query, or
// encoded twice (a server decodes once).
TEST(Grammar, DotsThatAreNotSegmentsPass) {
  EXPECT_EQ(parse_call("/api/echo&..", "/api/", Limits{}).args, (Args{".."}));
  EXPECT_EQ(parse_call("/api/echo&%2e%2e/x", "/api/", Limits{}).args, (Args{"../x"}));  // segment "echo&.."
  EXPECT_EQ(parse_call("/api/echo&.&..&...", "/api/", Limits{}).args, (Args{".", "..", "..."}));
  EXPECT_EQ(parse_call("/api/echo&a/..b/.c/...", "/api/", Limits{}).args, (Args{"a/..b/.c/..."}));
  EXPECT_EQ(parse_call("/api/echo&%252e%252e/x", "/api/", Limits{}).args, (Args{"%2e%2e/x"}));
  EXPECT_EQ(parse_call("/api/echo&x?/../..", "/api/", Limits{}).args, (Args{"x"}));
  EXPECT_EQ(parse_call("/api/echo&a\\..\\b", "/api/", Limits{}).args, (Args{"a\\..\\b"}));
}

TEST(Grammar, UriLongerThanTheLimitIs414) {
  Limits limits;
  limits.max_uri_bytes = 32;
  EXPECT_NO_THROW(parse_call("/api/echo&" + std::string(22, 'a'), "/api/", limits));
  try {
    parse_call("/api/echo&" + std::string(23, 'a'), "/api/", limits);
    FAIL();
  } catch (const HttpError& error) {
    EXPECT_EQ(error.status(), 414);
  }
}

TEST(Grammar, MoreArgumentsThanTheLimitIs400) {
  Limits limits;
  limits.max_arguments = 3;
  EXPECT_EQ(parse_call("/api/echo&1&2&3", "/api/", limits).args.size(), 3u);
  try {
    parse_call("/api/echo&1&2&3&4", "/api/", limits);
    FAIL();
  } catch (const HttpError& error) {
    EXPECT_EQ(error.status(), 400);
  }
}

TEST(Grammar, OtherPrefix) {
  EXPECT_EQ(parse_call("/v2/rpc/add&1", "/v2/rpc/", Limits{}).name, "add");
  EXPECT_EQ(raw_call_text("/v2/rpc/add&1?q", "/v2/rpc/"), "add&1");
  EXPECT_EQ(raw_call_text("/elsewhere", "/v2/rpc/"), "");
  EXPECT_EQ(raw_call_name("/v2/rpc/notes/get&17&x?q", "/v2/rpc/"), "notes/get");
  EXPECT_EQ(raw_call_name("/v2/rpc/serverTime?q", "/v2/rpc/"), "serverTime");
  EXPECT_EQ(raw_call_name("/elsewhere&1", "/v2/rpc/"), "");
}

TEST(Grammar, ValidNames) {
  for (const char* good : {"a", "add", "notes/get", "a-b/c_d/E9"}) EXPECT_TRUE(is_valid_call_name(good)) << good;
  for (const char* bad : {"", "/", "a/", "/a", "a//b", "..", "a/../b", "a.cpp", "a%2Fb", "ä"})
    EXPECT_FALSE(is_valid_call_name(bad)) << bad;
}

}  // namespace
}  // namespace cppapi
