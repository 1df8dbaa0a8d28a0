// SPDX-License-Identifier: MIT
// The contract's example calls through nginx and the shipped deploy/nginx/cppapi.conf:
// status, exact Content-Type, body, and a Content-Length equal to the bytes received.
#include <algorithm>
#include <cctype>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.hpp"

namespace cppapi::test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;
using json = nlohmann::json;

constexpr std::string_view kText = "text/plain; charset=utf-8";
constexpr std::string_view kJson = "application/json";

// The reply arrived whole, with exactly one Content-Length, equal to the bytes received.
void expect_exact_length(const HttpResponse& r) {
  EXPECT_EQ(r.curl_code, CURLE_OK) << r;
  EXPECT_EQ(r.headers.count("content-length"), 1u) << r;
  EXPECT_EQ(r.content_length, r.body.size()) << r;
}

void expect_reply(const HttpResponse& r, long status, std::string_view content_type) {
  EXPECT_EQ(r.status, status) << r;
  EXPECT_EQ(r.header("content-type"), content_type) << r;
  expect_exact_length(r);
}

// An error reply: a JSON object {"error": non-empty string, "status": the HTTP status, "call": call}.
// Returns the error message ("" if there is none).
std::string expect_error(const HttpResponse& r, long status, std::string_view call) {
  expect_reply(r, status, kJson);
  const json body = json::parse(r.body, nullptr, false);
  if (!body.is_object()) {
    ADD_FAILURE() << "error body is not a JSON object: " << r;
    return {};
  }
  const auto field = [&](const char* name) { return body.contains(name) ? body[name] : json(); };
  EXPECT_EQ(field("status"), json(status)) << r;
  EXPECT_EQ(field("call"), json(call)) << r;
  const json error = field("error");
  EXPECT_TRUE(error.is_string() && !error.get<std::string>().empty()) << r;
  return error.is_string() ? error.get<std::string>() : std::string();
}

// Index of the first byte where a and b differ (npos if equal): readable failures on big bodies.
std::size_t first_difference(std::string_view a, std::string_view b) {
  const auto [at, _] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
  return a.size() == b.size() && at == a.end() ? std::string_view::npos : static_cast<std::size_t>(at - a.begin());
}

std::size_t utf8_characters(std::string_view text) {
  return std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
}

// One cppapi (with the test-only calls) and one nginx for each test suite.
class NginxTest : public ::testing::Test {
 protected:
  struct Servers {
    TempDir dir;
    CppapiServer cppapi{dir};
    NginxServer nginx{dir, cppapi.socket()};
  };

  // A failure here would make gtest skip the suite, which ctest counts as "skipped", not
  // failed: remember the error and fail every test in SetUp instead.
  static void SetUpTestSuite() {
    start_error_.clear();
    try {
      servers_ = std::make_unique<Servers>();
    } catch (const std::exception& e) {
      start_error_ = e.what();
    }
  }

  static void TearDownTestSuite() {
    if (!servers_) return;
    servers_->nginx.stop();  // all workers gone: the error log is complete
    EXPECT_THAT(nginx_complaints(servers_->nginx.error_log()), IsEmpty()) << servers_->nginx.error_log_file();
    const fs::path socket = servers_->cppapi.socket();
    EXPECT_EQ(servers_->cppapi.stop(), (ExitStatus{0, 0})) << "cppapi after SIGTERM; log:\n" << servers_->cppapi.log();
    EXPECT_FALSE(fs::exists(socket)) << "cppapi left its socket behind";
    servers_.reset();
  }

  void SetUp() override {
    ASSERT_TRUE(servers_) << "servers did not start: " << start_error_;
    nginx_log_start_ = servers_->nginx.error_log().size();
    cppapi_log_start_ = servers_->cppapi.log().size();
  }

  void TearDown() override {
    if (!servers_) return;
    const std::string nginx_log = servers_->nginx.error_log().substr(nginx_log_start_);
    EXPECT_THAT(nginx_complaints(nginx_log), IsEmpty());
    if (HasFailure()) {
      std::cerr << "----- nginx error.log during this test\n"
                << nginx_log << "----- cppapi log during this test\n"
                << cppapi_log_since_setup() << "-----\n";
    }
  }

  std::string cppapi_log_since_setup() const { return servers_->cppapi.log().substr(cppapi_log_start_); }

  static HttpResponse request(std::string_view method, std::string_view call, std::string_view body = {},
                              const std::vector<std::string>& headers = {}) {
    return http(method, servers_->nginx.url("/api/" + std::string(call)), body, headers);
  }
  static HttpResponse get(std::string_view call) { return request("GET", call); }

 private:
  static inline std::unique_ptr<Servers> servers_;
  static inline std::string start_error_;
  std::size_t nginx_log_start_ = 0;
  std::size_t cppapi_log_start_ = 0;
};

// Table rows: named after their `name` in test names, shown as their `call` in failure messages.
template <typename Case>
std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  return info.param.name;
}

template <typename Case>
requires requires(const Case& row) { row.call; }
std::ostream& operator<<(std::ostream& out, const Case& row) { return out << row.call; }

// ---- text/plain replies with an exact body

struct TextCase {
  std::string name, call, body;
};

class NginxText : public NginxTest, public ::testing::WithParamInterface<TextCase> {};

TEST_P(NginxText, ExactBody) {
  const auto r = get(GetParam().call);
  expect_reply(r, 200, kText);
  EXPECT_EQ(r.body, GetParam().body);
}

INSTANTIATE_TEST_SUITE_P(Calls, NginxText,
                         ::testing::Values(TextCase{"Add", "add&2&3", "5"}, TextCase{"AddNegative", "add&-7&3", "-4"},
                                           TextCase{"QueryStringIgnored", "add&2&3?x=1", "5"},
                                           TextCase{"HelloDefault", "hello", "Grüße, Welt! ✓"},
                                           TextCase{"Sleep", "test/sleep&1", "slept 1"}),
                         case_name<TextCase>);

// ---- JSON replies, compared as parsed values

struct JsonCase {
  std::string name, call;
  json expected;
};

class NginxJson : public NginxTest, public ::testing::WithParamInterface<JsonCase> {};

TEST_P(NginxJson, ExactValue) {
  const auto r = get(GetParam().call);
  expect_reply(r, 200, kJson);
  EXPECT_EQ(json::parse(r.body, nullptr, false), GetParam().expected) << r;
}

// Arguments are split on & first, then percent-decoded one by one; + stays a plus.
INSTANTIATE_TEST_SUITE_P(Echo, NginxJson,
                         ::testing::Values(JsonCase{"EncodedAmpersand", "echo&a&b%26c", {"a", "b&c"}},
                                           JsonCase{"PlusStaysPlus", "echo&1+2", {"1+2"}},
                                           JsonCase{"EncodedSlash", "echo&a%2Fb", {"a/b"}},
                                           JsonCase{"EncodedSpace", "echo&a%20b", {"a b"}},
                                           JsonCase{"Utf8", "echo&gr%C3%BC%C3%9Fe&%E2%9C%93", {"grüße", "✓"}},
                                           JsonCase{"QueryStringIgnored", "echo&a%26b?x=1&y", {"a&b"}},
                                           JsonCase{"NoArguments", "echo", json::array()}),
                         case_name<JsonCase>);

// ---- single calls

TEST_F(NginxTest, ServerTime) {
  const auto plain = get("serverTime");
  expect_reply(plain, 200, kText);
  EXPECT_TRUE(std::any_of(plain.body.begin(), plain.body.end(), [](unsigned char c) { return std::isdigit(c); }))
      << plain;

  const auto now = get("serverTime&now");
  expect_reply(now, 200, kText);
  ASSERT_THAT(now.body, StartsWith("now: "));
  // The same clock format behind the prefix (digits blanked: the seconds may tick between calls).
  const auto shape = [](std::string text) {
    std::replace_if(
        text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); }, '0');
    return text;
  };
  EXPECT_EQ(shape(now.body.substr(5)), shape(plain.body));
}

TEST_F(NginxTest, HelloCountsBytesNotCharacters) {
  const auto r = get("hello&J%C3%B6rg");
  expect_reply(r, 200, kText);
  EXPECT_EQ(r.body, "Grüße, Jörg! ✓");
  // ü, ß, ö take 2 bytes and ✓ 3: a length in characters would cut the reply short.
  EXPECT_EQ(utf8_characters(r.body), 14u);
  EXPECT_EQ(r.content_length, 19u) << r;
}

TEST_F(NginxTest, EmptyBody) {
  const auto r = get("test/empty");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_THAT(r.header("content-type"), Not(IsEmpty())) << r;
  expect_exact_length(r);
  EXPECT_EQ(r.content_length, 0u) << r;
  EXPECT_EQ(r.body, "");
}

TEST_F(NginxTest, OneMebibyte) {
  constexpr std::size_t kSize = 1 << 20;
  const auto r = get("test/blob&" + std::to_string(kSize));
  expect_reply(r, 200, "application/octet-stream");
  ASSERT_EQ(r.body.size(), kSize);
  EXPECT_EQ(first_wrong_blob_byte(r.body), std::string::npos) << "first wrong byte";
}

TEST_F(NginxTest, NoteById) {
  const auto r = get("notes/get&1");
  expect_reply(r, 200, kJson);
  const json note = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(note.is_object()) << r;
  EXPECT_EQ(note.value("id", json()), 1) << r;
  EXPECT_TRUE(note.contains("text") && note["text"].is_string()) << r;
}

// The body is bigger than nginx's client_body_buffer_size, so it travels through a temp file.
TEST_F(NginxTest, PostBodyArrivesIntact) {
  constexpr std::size_t kSize = 100 * 1024;
  constexpr std::string_view kContentType = "text/x-test; charset=utf-8";
  std::string body;
  for (int line = 0; body.size() < kSize - 64; ++line)
    body += std::to_string(line) + ": a&b%26c+d=\"quoted\" \\ grüße ✓\n";
  body.resize(kSize, '.');

  const auto r = request("POST", "test/inspect", body,
                         {"Content-Type: " + std::string(kContentType), "User-Agent: cppapi-integration"});
  expect_reply(r, 200, kJson);
  const json seen = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(seen.is_object()) << r;
  EXPECT_EQ(seen.value("method", ""), "POST");
  EXPECT_EQ(seen.value("content_type", ""), kContentType);
  EXPECT_EQ(seen.value("call", ""), "test/inspect");
  EXPECT_EQ(seen.value("args", json()), json::array());
  EXPECT_EQ(seen.value("remote_addr", ""), "127.0.0.1");
  EXPECT_EQ(seen.value("https", json()), false);
  EXPECT_EQ(seen.value("user_agent", ""), "cppapi-integration");
  const std::string received = seen.value("body", "");
  EXPECT_EQ(received.size(), kSize);
  EXPECT_EQ(first_difference(received, body), std::string::npos) << "first differing byte";
}

TEST_F(NginxTest, InspectSeesDecodedArguments) {
  const auto r = get("test/inspect&x&y%26z");
  expect_reply(r, 200, kJson);
  const json seen = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(seen.is_object()) << r;
  EXPECT_EQ(seen.value("method", ""), "GET");
  EXPECT_EQ(seen.value("call", ""), "test/inspect");
  EXPECT_EQ(seen.value("args", json()), json({"x", "y&z"}));
}

TEST_F(NginxTest, HandlerFailureHidesTheDetail) {
  constexpr std::string_view kDetail = "secret detail";  // what tests/calls/test/fail.cpp throws
  const auto r = get("test/fail");
  expect_error(r, 500, "test/fail");
  EXPECT_THAT(r.body, Not(HasSubstr(kDetail)));
  EXPECT_THAT(r.body, Not(HasSubstr("runtime_error")));
  // ... and the detail goes to the log instead.
  EXPECT_TRUE(wait_until([&] { return cppapi_log_since_setup().find(kDetail) != std::string::npos; }, 2s))
      << "cppapi log does not mention \"" << kDetail << "\":\n"
      << cppapi_log_since_setup();
}

// ---- errors: JSON {error, status, call} with the HTTP status

struct ErrorCase {
  std::string name, method, call;
  long status;
  std::string call_field;                ///< the "call" the error names
  std::vector<std::string> error_names;  ///< substrings of the error message
};

class NginxError : public NginxTest, public ::testing::WithParamInterface<ErrorCase> {};

TEST_P(NginxError, JsonWithStatus) {
  const auto& c = GetParam();
  const auto r = request(c.method, c.call);
  const std::string error = expect_error(r, c.status, c.call_field);
  for (const auto& part : c.error_names) EXPECT_THAT(error, HasSubstr(part));
}

INSTANTIATE_TEST_SUITE_P(
    Calls, NginxError,
    ::testing::Values(ErrorCase{"MissingArgument", "GET", "add&2", 400, "add", {"argument 2", "integer"}},
                      ErrorCase{"NotAnInteger", "GET", "add&x&1", 400, "add", {"argument 1", "integer", "\"x\""}},
                      ErrorCase{"UnknownCall", "GET", "nosuchcall", 404, "nosuchcall", {}},
                      ErrorCase{"UnknownNestedCall", "GET", "no/such/call&1", 404, "no/such/call", {}},
                      ErrorCase{"NoSuchNote", "GET", "notes/get&999999", 404, "notes/get", {"no such note"}},
                      // 405 is refused before the call is parsed; the error still names the call
                      ErrorCase{"Put", "PUT", "add&2&3", 405, "add", {}},
                      ErrorCase{"Delete", "DELETE", "add&2&3", 405, "add", {}}),
    case_name<ErrorCase>);

// ---- HEAD: the GET's status and headers, no body

struct HeadCase {
  std::string name, call;
};

class NginxHead : public NginxTest, public ::testing::WithParamInterface<HeadCase> {};

TEST_P(NginxHead, SameHeadersNoBody) {
  const auto got = get(GetParam().call);
  const auto head = request("HEAD", GetParam().call);
  expect_exact_length(got);
  EXPECT_EQ(head.curl_code, CURLE_OK) << head;
  EXPECT_EQ(head.status, got.status) << head;
  EXPECT_EQ(head.header("content-type"), got.header("content-type")) << head;
  EXPECT_EQ(head.headers.count("content-length"), 1u) << head;
  EXPECT_EQ(head.content_length, got.body.size()) << head;
  EXPECT_EQ(head.body, "");
}

INSTANTIATE_TEST_SUITE_P(Calls, NginxHead,
                         ::testing::Values(HeadCase{"Add", "add&2&3"}, HeadCase{"Blob", "test/blob&1048576"},
                                           HeadCase{"Utf8", "hello&J%C3%B6rg"}, HeadCase{"Empty", "test/empty"},
                                           HeadCase{"BadArgument", "add&2"}, HeadCase{"UnknownCall", "nosuchcall"}),
                         case_name<HeadCase>);

}  // namespace
}  // namespace cppapi::test
