// SPDX-License-Identifier: MIT
#include "dispatch/call_description.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/text.hpp"

namespace cppapi {
namespace {

using json = nlohmann::json;

bool is_identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

/// Splits on the commas that are not inside <>, (), [] or {}.
std::vector<std::string_view> split_top_level(std::string_view text) {
  std::vector<std::string_view> pieces;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<' || c == '(' || c == '[' || c == '{') ++depth;
    if (c == '>' || c == ')' || c == ']' || c == '}') --depth;
    if (c == ',' && depth == 0) {
      pieces.push_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  pieces.push_back(text.substr(start));
  return pieces;
}

/// The declared name of one parameter ("" when it has none): its last identifier,
/// unless that is part of the type (a keyword, or after `::`).
std::string name_of(std::string_view declaration) {
  declaration = trim(declaration.substr(0, declaration.find('=')));  // a default argument
  std::size_t end = declaration.size();
  std::size_t begin = end;
  while (begin > 0 && is_identifier_char(declaration[begin - 1])) --begin;
  const std::string_view last = declaration.substr(begin, end - begin);
  if (last.empty() || std::isdigit(static_cast<unsigned char>(last.front()))) return {};
  static constexpr std::array<std::string_view, 16> kTypeWords = {
      "int",  "long",    "short", "unsigned", "signed", "double",  "float",    "bool",
      "char", "wchar_t", "const", "volatile", "auto",   "char8_t", "char16_t", "char32_t"};
  if (std::find(kTypeWords.begin(), kTypeWords.end(), last) != kTypeWords.end()) return {};
  const std::string_view before = trim(declaration.substr(0, begin));
  if (before.empty() || before.ends_with("::")) return {};  // `std::string`: a type alone
  return std::string(last);
}

}  // namespace

std::size_t CallInfo::required_count() const {
  return static_cast<std::size_t>(
      std::count_if(parameters.begin(), parameters.end(), [](const ParameterInfo& p) { return !p.type.optional; }));
}

std::vector<std::string> parameter_names(std::string_view parameters) {
  std::vector<std::string> names;
  const std::string_view text = trim(parameters);
  if (text.empty() || text == "void") return names;
  for (std::string_view piece : split_top_level(text)) names.push_back(name_of(piece));
  return names;
}

CallInfo describe_call(const detail::CallRecord& record) {
  CallInfo info;
  info.name = record.name;
  info.summary = record.summary ? record.summary : "";
  info.signature = record.parameters ? record.parameters : "";
  if (!record.description) {  // a record made by hand: nothing known but the name
    info.raw_arguments = true;
    return info;
  }
  const detail::CallDescription& description = *record.description;
  info.reads_body = description.takes_request;
  info.raw_arguments = description.raw_arguments;
  info.returns = description.returns;
  const std::vector<std::string> names = parameter_names(info.signature);
  const std::size_t first = description.takes_request ? 1 : 0;
  for (std::size_t i = 0; i < description.parameter_count; ++i) {
    std::string name = first + i < names.size() ? names[first + i] : std::string();
    if (name.empty()) name = fmt::format("arg{}", i + 1);
    info.parameters.push_back({std::move(name), description.parameters[i]});
  }
  return info;
}

std::vector<CallInfo> describe_calls(const Registry& registry) {
  std::vector<CallInfo> calls;
  for (const detail::CallRecord* record : registry.all()) calls.push_back(describe_call(*record));
  return calls;
}

std::vector<int> error_statuses(const CallInfo& call) {
  std::vector<int> statuses;
  if (!call.raw_arguments) statuses.push_back(400);  // a wrong count or a bad value
  for (int status : {404, 405, 413, 414, 500, 503, 504}) statuses.push_back(status);
  return statuses;
}

std::string_view error_status_meaning(int status) {
  switch (status) {
    case 400:
      return "a wrong argument count, an argument that does not convert to its type or is out of its range, "
             "a bad percent-escape";
    case 404:
      return "no call of this name is served here (or the handler threw HttpError{404, ...})";
    case 405:
      return "a method other than GET, HEAD, POST or OPTIONS";
    case 413:
      return "a request body larger than max_body_bytes";
    case 414:
      return "a URI longer than max_uri_bytes";
    case 500:
      return "the handler threw, or built a reply that cannot be sent";
    case 503:
      return "the service is unavailable (stopping or overloaded; may come from the front server)";
    case 504:
      return "the handler ran longer than request_timeout";
    default:
      return "an error";
  }
}

json parameter_schema(const detail::ParameterType& type) {
  switch (type.kind) {
    case detail::ValueKind::kInteger: {
      json schema{{"type", "integer"}, {"minimum", type.minimum}, {"maximum", type.maximum}};
      const std::string_view cpp(type.cpp_type);
      if (cpp == "int") schema["format"] = "int32";
      if (cpp == "long" || cpp == "long long") schema["format"] = "int64";
      return schema;
    }
    case detail::ValueKind::kNumber:
      return {{"type", "number"}, {"format", "double"}};
    case detail::ValueKind::kBoolean:
      return {{"type", "boolean"}};
    case detail::ValueKind::kString:
      break;
  }
  return {{"type", "string"}};
}

std::string_view return_kind_name(detail::ReturnKind kind) {
  switch (kind) {
    case detail::ReturnKind::kNothing:
      return "nothing";
    case detail::ReturnKind::kInteger:
      return "integer";
    case detail::ReturnKind::kNumber:
      return "number";
    case detail::ReturnKind::kBoolean:
      return "boolean";
    case detail::ReturnKind::kText:
      return "text";
    case detail::ReturnKind::kJson:
      return "json";
    case detail::ReturnKind::kReply:
      break;
  }
  return "reply";
}

std::string_view return_content_type(detail::ReturnKind kind) {
  switch (kind) {
    case detail::ReturnKind::kNothing:
    case detail::ReturnKind::kReply:
      return "";
    case detail::ReturnKind::kJson:
      return "application/json";
    default:
      return "text/plain; charset=utf-8";
  }
}

json return_schema(detail::ReturnKind kind) {
  switch (kind) {
    case detail::ReturnKind::kInteger:
      return {{"type", "integer"}};
    case detail::ReturnKind::kNumber:
      return {{"type", "number"}};
    case detail::ReturnKind::kBoolean:
      return {{"type", "boolean"}};
    case detail::ReturnKind::kText:
      return {{"type", "string"}};
    default:
      return json::object();  // any JSON, or whatever the handler's Reply holds
  }
}

json error_schema() {
  return {{"type", "object"},
          {"required", {"error", "status", "call"}},
          {"properties",
           {{"error", {{"type", "string"}, {"description", "what went wrong"}}},
            {"status", {{"type", "integer"}, {"description", "the HTTP status, repeated"}}},
            {"call", {{"type", "string"}, {"description", "the call's name as requested"}}}}}};
}

std::string calls_json(const Registry& registry) {
  json calls = json::array();
  for (const CallInfo& call : describe_calls(registry)) {
    json parameters = json::array();
    for (const ParameterInfo& parameter : call.parameters)
      parameters.push_back({{"name", parameter.name},
                            {"type", parameter.type.cpp_type},
                            {"schema", parameter_schema(parameter.type)},
                            {"optional", parameter.type.optional}});
    json returns{{"kind", return_kind_name(call.returns)}};
    if (const std::string_view type = return_content_type(call.returns); !type.empty()) {
      returns["content_type"] = type;
      returns["schema"] = return_schema(call.returns);
    }
    calls.push_back({{"name", call.name},
                     {"summary", call.summary},
                     {"signature", call.signature},
                     {"arguments", call.raw_arguments ? "any" : "typed"},
                     {"parameters", std::move(parameters)},
                     {"reads_body", call.reads_body},
                     {"returns", std::move(returns)},
                     {"errors", error_statuses(call)}});
  }
  json errors = json::object();
  for (int status : {400, 404, 405, 413, 414, 500, 503, 504})
    errors[std::to_string(status)] = error_status_meaning(status);
  const json document{
      {"calls", std::move(calls)},
      {"error", {{"schema", error_schema()}, {"statuses", std::move(errors)}, {"note", kHandlerStatusesNote}}}};
  return document.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace cppapi
