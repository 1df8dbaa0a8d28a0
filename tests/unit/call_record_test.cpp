// SPDX-License-Identifier: MIT
// Handlers of every supported shape, invoked through the same records the build
// generates for calls/.
#include <optional>

#include <gtest/gtest.h>

#include "cppapi/detail/call_record.hpp"

#include "dispatch/request_access.hpp"

namespace cppapi::detail {
namespace {

long add(long a, long b) { return a + b; }
std::string join(const Args& args) {
  std::string out;
  for (const auto& arg : args) out += arg + "|";
  return out;
}
std::string method_and_id(const Request& request, int id) { return std::string(request.method()) + std::to_string(id); }
std::string raw_with_request(const Request& request, const Args& args) {
  return std::string(request.method()) + std::to_string(args.size());
}
std::string greet(std::string_view who, std::optional<int> times) {
  std::string out;
  for (int i = 0; i < times.value_or(1); ++i) out += who;
  return out;
}
double half(double x) { return x / 2; }
bool negate(bool value) { return !value; }
void nothing() {}
Reply teapot() { return Reply::text("short and stout", 418).header("X-Kind", "teapot"); }
struct FakeJson {
  std::string dump() const { return R"({"ok":true})"; }
};
FakeJson json() { return {}; }
std::string refuse(int) { throw HttpError{404, "no such thing"}; }

const char* const kEnv[] = {"REQUEST_METHOD=POST", nullptr};

Reply run(const CallRecord& record, Args args) {
  Request request = detail::RequestAccess::make(kEnv, "");
  return record.invoke(request, args);
}

std::string error_of(const CallRecord& record, Args args) {
  try {
    run(record, std::move(args));
  } catch (const HttpError& error) {
    return std::to_string(error.status()) + " " + error.what();
  }
  return "no error";
}

TEST(CallRecord, TypedParameters) {
  constexpr CallRecord record = make_record<&add>("add", "long a, long b");
  const Reply reply = run(record, {"2", "3"});
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "5");
  EXPECT_EQ(reply.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(error_of(record, {"2"}), "400 argument 2: missing, expected integer");
  EXPECT_EQ(error_of(record, {}), "400 argument 1: missing, expected integer");
  EXPECT_EQ(error_of(record, {"x", "1"}), "400 argument 1: expected integer, got \"x\"");
  EXPECT_EQ(error_of(record, {"1", "x"}), "400 argument 2: expected integer, got \"x\"");
  EXPECT_EQ(error_of(record, {"1", "2", "3"}), "400 too many arguments: expected 2, got 3");
}

TEST(CallRecord, RawArguments) {
  EXPECT_EQ(run(make_record<&join>("join", ""), {"a", "b&c"}).body, "a|b&c|");
  EXPECT_EQ(run(make_record<&join>("join", ""), {}).body, "");
}

TEST(CallRecord, RequestFirst) {
  EXPECT_EQ(run(make_record<&method_and_id>("m", ""), {"7"}).body, "POST7");
  EXPECT_EQ(run(make_record<&raw_with_request>("r", ""), {"a", "b"}).body, "POST2");
  EXPECT_EQ(error_of(make_record<&method_and_id>("m", ""), {}), "400 argument 1: missing, expected integer");
}

TEST(CallRecord, TrailingOptionals) {
  constexpr CallRecord record = make_record<&greet>("greet", "");
  EXPECT_EQ(run(record, {"ab"}).body, "ab");
  EXPECT_EQ(run(record, {"ab", "3"}).body, "ababab");
  EXPECT_EQ(error_of(record, {"ab", "many"}), "400 argument 2: expected integer, got \"many\"");
  EXPECT_EQ(error_of(record, {"ab", "1", "2"}), "400 too many arguments: expected at most 2, got 3");
}

TEST(CallRecord, ReturnTypes) {
  EXPECT_EQ(run(make_record<&half>("h", ""), {"3"}).body, "1.5");
  EXPECT_EQ(run(make_record<&negate>("n", ""), {"true"}).body, "false");
  const Reply empty = run(make_record<&nothing>("e", ""), {});
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body, "");
  const Reply full = run(make_record<&teapot>("t", ""), {});
  EXPECT_EQ(full.status, 418);
  ASSERT_EQ(full.headers.size(), 1u);
  EXPECT_EQ(full.headers[0].first, "X-Kind");
  const Reply json_reply = run(make_record<&json>("j", ""), {});
  EXPECT_EQ(json_reply.content_type, "application/json");
  EXPECT_EQ(json_reply.body, R"({"ok":true})");
}

TEST(CallRecord, HttpErrorPassesThrough) {
  EXPECT_EQ(error_of(make_record<&refuse>("r", ""), {"1"}), "404 no such thing");
}

}  // namespace
}  // namespace cppapi::detail
