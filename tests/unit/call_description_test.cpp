// SPDX-License-Identifier: MIT
// The description a call gets from its C++ signature (types, optionals, the Request,
// the return kind), its parameter names from the CALL text, its summary from the
// `///` lines the build read, and the documents built from them.
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cppapi/detail/call_record.hpp"

#include "dispatch/call_description.hpp"
#include "dispatch/js_proxies.hpp"
#include "dispatch/openapi.hpp"
#include "dispatch/registry.hpp"

namespace cppapi {
namespace {

using detail::ReturnKind;
using detail::ValueKind;
using json = nlohmann::json;

std::string every_type(int, long, long long, unsigned, unsigned long, double, bool, std::string, std::string_view,
                       std::optional<long>) {
  return "";
}
long with_request(const Request&, int id, std::optional<std::string>) { return id; }
std::string raw(const Args&) { return ""; }
std::string raw_with_request(const Request&, const Args&) { return ""; }
void returns_nothing() {}
long returns_long() { return 1; }
unsigned returns_unsigned() { return 1; }
double returns_double() { return 1; }
bool returns_bool() { return true; }
std::string returns_string() { return ""; }
const char* returns_chars() { return ""; }
std::string_view returns_view() { return ""; }
struct FakeJson {
  std::string dump() const { return "{}"; }
};
FakeJson returns_json() { return {}; }
Reply returns_reply() { return Reply::text(""); }

TEST(CallDescription, EveryAcceptedParameterType) {
  const detail::CallDescription& d = *detail::description_of<&every_type>();
  EXPECT_FALSE(d.takes_request);
  EXPECT_FALSE(d.raw_arguments);
  ASSERT_EQ(d.parameter_count, 10u);
  struct Expected {
    ValueKind kind;
    std::string_view cpp;
    long long minimum;
    unsigned long long maximum;
  };
  const Expected expected[] = {
      {ValueKind::kInteger, "int", -2147483648LL, 2147483647ULL},
      {ValueKind::kInteger, "long", -9223372036854775807LL - 1, 9223372036854775807ULL},
      {ValueKind::kInteger, "long long", -9223372036854775807LL - 1, 9223372036854775807ULL},
      {ValueKind::kInteger, "unsigned", 0, 4294967295ULL},
      {ValueKind::kInteger, "unsigned long", 0, 18446744073709551615ULL},
      {ValueKind::kNumber, "double", 0, 0},
      {ValueKind::kBoolean, "bool", 0, 0},
      {ValueKind::kString, "std::string", 0, 0},
      {ValueKind::kString, "std::string_view", 0, 0},
      {ValueKind::kInteger, "long", -9223372036854775807LL - 1, 9223372036854775807ULL},
  };
  for (std::size_t i = 0; i < 10; ++i) {
    const detail::ParameterType& p = d.parameters[i];
    EXPECT_EQ(p.kind, expected[i].kind) << i;
    EXPECT_EQ(p.cpp_type, expected[i].cpp) << i;
    EXPECT_EQ(p.minimum, expected[i].minimum) << i;
    EXPECT_EQ(p.maximum, expected[i].maximum) << i;
    EXPECT_EQ(p.optional, i == 9) << i;
  }
}

TEST(CallDescription, JsonSchemaOfEachType) {
  const detail::CallDescription& d = *detail::description_of<&every_type>();
  EXPECT_EQ(parameter_schema(d.parameters[0]),
            json::parse(R"({"type":"integer","format":"int32","minimum":-2147483648,"maximum":2147483647})"));
  EXPECT_EQ(parameter_schema(d.parameters[4]),
            json::parse(R"({"type":"integer","minimum":0,"maximum":18446744073709551615})"));
  EXPECT_EQ(parameter_schema(d.parameters[5]), json::parse(R"({"type":"number","format":"double"})"));
  EXPECT_EQ(parameter_schema(d.parameters[6]), json::parse(R"({"type":"boolean"})"));
  EXPECT_EQ(parameter_schema(d.parameters[8]), json::parse(R"({"type":"string"})"));
}

TEST(CallDescription, RequestAndRawArguments) {
  const detail::CallDescription& typed = *detail::description_of<&with_request>();
  EXPECT_TRUE(typed.takes_request);
  EXPECT_FALSE(typed.raw_arguments);
  ASSERT_EQ(typed.parameter_count, 2u);
  EXPECT_EQ(typed.parameters[0].kind, ValueKind::kInteger);
  EXPECT_TRUE(typed.parameters[1].optional);
  EXPECT_EQ(typed.parameters[1].kind, ValueKind::kString);

  const detail::CallDescription& args = *detail::description_of<&raw>();
  EXPECT_FALSE(args.takes_request);
  EXPECT_TRUE(args.raw_arguments);
  EXPECT_EQ(args.parameter_count, 0u);

  const detail::CallDescription& both = *detail::description_of<&raw_with_request>();
  EXPECT_TRUE(both.takes_request);
  EXPECT_TRUE(both.raw_arguments);
}

TEST(CallDescription, ReturnKinds) {
  EXPECT_EQ(detail::description_of<&returns_nothing>()->returns, ReturnKind::kNothing);
  EXPECT_EQ(detail::description_of<&returns_long>()->returns, ReturnKind::kInteger);
  EXPECT_EQ(detail::description_of<&returns_unsigned>()->returns, ReturnKind::kInteger);
  EXPECT_EQ(detail::description_of<&returns_double>()->returns, ReturnKind::kNumber);
  EXPECT_EQ(detail::description_of<&returns_bool>()->returns, ReturnKind::kBoolean);
  EXPECT_EQ(detail::description_of<&returns_string>()->returns, ReturnKind::kText);
  EXPECT_EQ(detail::description_of<&returns_chars>()->returns, ReturnKind::kText);
  EXPECT_EQ(detail::description_of<&returns_view>()->returns, ReturnKind::kText);
  EXPECT_EQ(detail::description_of<&returns_json>()->returns, ReturnKind::kJson);
  EXPECT_EQ(detail::description_of<&returns_reply>()->returns, ReturnKind::kReply);
  EXPECT_EQ(return_content_type(ReturnKind::kJson), "application/json");
  EXPECT_EQ(return_content_type(ReturnKind::kInteger), "text/plain; charset=utf-8");
  EXPECT_EQ(return_content_type(ReturnKind::kReply), "");
}

TEST(CallDescription, ParameterNamesFromTheCallText) {
  using Names = std::vector<std::string>;
  EXPECT_EQ(parameter_names("long a, long b"), (Names{"a", "b"}));
  EXPECT_EQ(parameter_names(""), Names{});
  EXPECT_EQ(parameter_names("void"), Names{});
  EXPECT_EQ(parameter_names("const cppapi::Request& req, std::optional<std::map<int, int>> m"), (Names{"req", "m"}));
  EXPECT_EQ(parameter_names("const cppapi::Args &args"), Names{"args"});
  EXPECT_EQ(parameter_names("unsigned long"), Names{""});
  EXPECT_EQ(parameter_names("std::string, int"), (Names{"", ""}));
  EXPECT_EQ(parameter_names("int x = 3, const char* p"), (Names{"x", "p"}));
  EXPECT_EQ(parameter_names("  std::string_view   name  "), Names{"name"});
}

TEST(CallDescription, DescribedCallSkipsTheRequestAndNamesUnnamed) {
  const detail::CallRecord record = detail::make_record<&with_request>(
      "notes/put", "const cppapi::Request& req, int id, std::optional<std::string>", "Puts a \"note\".");
  const CallInfo info = describe_call(record);
  EXPECT_EQ(info.name, "notes/put");
  EXPECT_EQ(info.summary, "Puts a \"note\".");
  EXPECT_TRUE(info.reads_body);
  ASSERT_EQ(info.parameters.size(), 2u);
  EXPECT_EQ(info.parameters[0].name, "id");
  EXPECT_EQ(info.parameters[1].name, "arg2");
  EXPECT_EQ(info.required_count(), 1u);
  EXPECT_EQ(info.returns, ReturnKind::kInteger);
  EXPECT_EQ(error_statuses(info), (std::vector<int>{400, 404, 405, 413, 414, 500, 503, 504}));

  const CallInfo any = describe_call(detail::make_record<&raw>("echo", "const cppapi::Args& args"));
  EXPECT_TRUE(any.raw_arguments);
  EXPECT_TRUE(any.parameters.empty());
  EXPECT_EQ(error_statuses(any).front(), 404);  // any count is accepted: no 400 of the framework's
}

// The summaries the build took from the `///` lines above CALL in the call files.
TEST(CallDescription, SummariesFromDocComments) {
  const Registry registry(generated_call_table());
  const detail::CallRecord* add = registry.find("add");
  ASSERT_NE(add, nullptr);
  EXPECT_STREQ(add->summary, "Adds two integers; a sum out of range is a 400.");
  const detail::CallRecord* types = registry.find("test/types");
  if (!types) GTEST_SKIP() << "the test calls are not in this build (-DCPPAPI_TEST_CALLS=ON)";
  // Two `///` lines joined; the quote, backslash and semicolon survive the escaping.
  EXPECT_STREQ(types->summary, R"(Test-only: takes "every" type \ one of each; and echoes them as JSON.)");
  const detail::CallRecord* sleep = registry.find("test/sleep");
  ASSERT_NE(sleep, nullptr);
  EXPECT_STREQ(sleep->summary, "");  // a plain `//` comment is not a summary
}

TEST(CallDescription, CallsJsonDescribesEveryCall) {
  const Registry registry(generated_call_table());
  const json document = json::parse(calls_json(registry));
  ASSERT_EQ(document["calls"].size(), registry.all().size());
  const json& add = document["calls"][0];
  EXPECT_EQ(add["name"], "add");
  EXPECT_EQ(add["arguments"], "typed");
  EXPECT_EQ(add["parameters"][1]["name"], "b");
  EXPECT_EQ(add["parameters"][1]["type"], "long");
  EXPECT_EQ(add["parameters"][1]["schema"]["type"], "integer");
  EXPECT_EQ(add["returns"]["kind"], "integer");
  EXPECT_EQ(add["reads_body"], false);
  EXPECT_EQ(document["error"]["schema"]["required"], json::parse(R"(["error","status","call"])"));
  EXPECT_TRUE(document["error"]["statuses"].contains("504"));
  EXPECT_NE(document["error"]["note"].get<std::string>().find("HttpError"), std::string::npos);
}

TEST(OpenApi, PathsInTheCallGrammar) {
  const Registry registry(generated_call_table());
  const json document = json::parse(openapi_document(registry, "/api/"));
  EXPECT_EQ(document["openapi"], "3.1.0");
  EXPECT_EQ(document["servers"][0]["url"], "/api");
  const json& paths = document["paths"];
  ASSERT_TRUE(paths.contains("/add&{a}&{b}"));
  const json& add = paths["/add&{a}&{b}"]["get"];
  EXPECT_EQ(add["summary"], "Adds two integers; a sum out of range is a 400.");
  EXPECT_EQ(add["parameters"][0]["in"], "path");
  EXPECT_EQ(add["responses"]["200"]["content"]["text/plain; charset=utf-8"]["schema"]["type"], "integer");
  EXPECT_EQ(add["responses"]["400"]["$ref"], "#/components/responses/400");
  EXPECT_TRUE(add["responses"].contains("default"));  // HttpError: statuses that cannot be known
  // An optional parameter: one path without it, one with it.
  EXPECT_TRUE(paths.contains("/hello"));
  EXPECT_TRUE(paths.contains("/hello&{name}"));
  EXPECT_TRUE(paths["/notes/get&{id}"]["get"]["responses"]["200"]["content"].contains("application/json"));
  EXPECT_TRUE(paths.contains("/echo"));
  EXPECT_FALSE(paths["/add&{a}&{b}"].contains("post"));
  if (registry.find("test/types")) {
    EXPECT_TRUE(paths.contains("/test/types&{i}&{l}&{ll}&{u}&{ul}&{d}&{b}&{s}&{sv}"));
    EXPECT_TRUE(paths["/test/types&{i}&{l}&{ll}&{u}&{ul}&{d}&{b}&{s}&{sv}&{oi}"].contains("post"));
  }
  EXPECT_EQ(json::parse(openapi_document(registry, "/"))["servers"][0]["url"], "/");
  EXPECT_EQ(json::parse(openapi_document(registry, "/v1/calls/"))["servers"][0]["url"], "/v1/calls");
}

TEST(ClientCode, ProxiesAndTypes) {
  const Registry registry(generated_call_table());
  const std::string js = js_proxies(registry, "/* requests.js */");
  EXPECT_NE(js.find("/* requests.js */"), std::string::npos);
  EXPECT_NE(js.find("  calls.add = call(\"add\", number, false);\n"), std::string::npos) << js;
  EXPECT_NE(js.find("  calls.notes = {};\n  calls.notes.get = call(\"notes/get\", null, false);\n"), std::string::npos);
  EXPECT_NE(std::string_view(kRequestsJs).find("function api(name)"), std::string_view::npos);

  const std::string ts = typescript_declarations(registry);
  EXPECT_NE(ts.find("  add(a: number, b: number): Promise<number>;\n"), std::string::npos) << ts;
  EXPECT_NE(ts.find("  hello(name?: string): Promise<string>;\n"), std::string::npos);
  EXPECT_NE(ts.find("  echo(...args: CppapiArgument[]): Promise<unknown>;\n"), std::string::npos);
  EXPECT_NE(ts.find("  notes: {\n    /** The note"), std::string::npos);
}

}  // namespace
}  // namespace cppapi
