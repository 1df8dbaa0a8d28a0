// SPDX-License-Identifier: MIT
#include "dispatch/openapi.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dispatch/call_description.hpp"

#ifndef CPPAPI_VERSION
#define CPPAPI_VERSION "0"
#endif

namespace cppapi {
namespace {

using json = nlohmann::json;

std::string operation_id(std::string_view name) {
  std::string id(name);
  std::replace(id.begin(), id.end(), '/', '_');
  std::replace(id.begin(), id.end(), '-', '_');
  return id;
}

json parameter_object(const ParameterInfo& parameter, std::size_t position) {
  std::string description = fmt::format("argument {}: C++ {}", position, parameter.type.cpp_type);
  if (parameter.type.kind == detail::ValueKind::kBoolean) description += " (true, false, 1 or 0)";
  if (parameter.type.kind == detail::ValueKind::kNumber) description += " (finite)";
  if (parameter.type.optional) description += "; optional: leave it out, with its `&`, to omit it";
  return {{"name", parameter.name},
          {"x-cppapi-type", parameter.type.cpp_type},
          {"x-cppapi-optional", parameter.type.optional},
          {"in", "path"},
          {"required", true},
          {"description", description},
          {"schema", parameter_schema(parameter.type)}};
}

json success_response(detail::ReturnKind kind) {
  switch (kind) {
    case detail::ReturnKind::kNothing:
      return {{"description", "done: an empty body"}};
    case detail::ReturnKind::kReply:
      return {{"description", "a full reply: status, content type and headers chosen by the handler"},
              {"content", {{"*/*", {{"schema", json::object()}}}}}};
    default:
      break;
  }
  const std::string description =
      kind == detail::ReturnKind::kJson
          ? "the answer, as JSON"
          : fmt::format("the answer, a {} as text/plain",
                        return_kind_name(kind) == "text" ? "string" : return_kind_name(kind));
  return {{"description", description},
          {"content", {{std::string(return_content_type(kind)), {{"schema", return_schema(kind)}}}}}};
}

json operation(const CallInfo& call, std::size_t count, bool post) {
  json parameters = json::array();
  for (std::size_t i = 0; i < count; ++i) parameters.push_back(parameter_object(call.parameters[i], i + 1));
  std::string id = operation_id(call.name);
  if (count < call.parameters.size()) id += fmt::format("_{}", count);
  if (post) id += "_post";
  std::string description;
  if (call.raw_arguments)
    description = fmt::format("Takes any number of string arguments, each after an `&`: `/{}&a&b`. ", call.name);
  if (call.reads_body)
    description += post ? "The handler receives the request and reads its body."
                        : "The handler receives the request; POST sends a body.";
  json responses{{"200", success_response(call.returns)}};
  for (int status : error_statuses(call))
    responses[std::to_string(status)] = {{"$ref", fmt::format("#/components/responses/{}", status)}};
  responses["default"] = {{"$ref", "#/components/responses/HttpError"}};
  json op{{"operationId", id}, {"x-cppapi-call", call.name}, {"responses", std::move(responses)}};
  if (!call.summary.empty()) op["summary"] = call.summary;
  if (!description.empty()) op["description"] = description;
  const std::size_t slash = call.name.rfind('/');
  if (slash != std::string::npos) op["tags"] = {call.name.substr(0, slash)};
  if (!parameters.empty()) op["parameters"] = std::move(parameters);
  if (post)
    op["requestBody"] = {{"description", "any bytes; the handler reads them"},
                         {"required", false},
                         {"content", {{"*/*", {{"schema", json::object()}}}}}};
  return op;
}

}  // namespace

std::string openapi_document(const Registry& registry, std::string_view prefix) {
  json paths = json::object();
  for (const CallInfo& call : describe_calls(registry)) {
    // A path parameter is always required: one path per number of arguments the call accepts.
    for (std::size_t count = call.required_count(); count <= call.parameters.size(); ++count) {
      std::string path = "/" + call.name;
      for (std::size_t i = 0; i < count; ++i) path += "&{" + call.parameters[i].name + "}";
      json item{{"get", operation(call, count, false)}};
      if (call.reads_body) item["post"] = operation(call, count, true);
      paths[path] = std::move(item);
    }
  }
  json responses = json::object();
  const json error_content{{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}};
  for (int status : {400, 404, 405, 413, 414, 500, 503, 504})
    responses[std::to_string(status)] = {{"description", error_status_meaning(status)}, {"content", error_content}};
  responses["HttpError"] = {{"description", kHandlerStatusesNote}, {"content", error_content}};
  std::string server(prefix);
  if (server.size() > 1 && server.back() == '/') server.pop_back();
  const json document{
      {"openapi", "3.1.0"},
      {"info",
       {{"title", "cppAPI calls"},
        {"version", CPPAPI_VERSION},
        {"description",
         "Generated by cppapi from the CALL signatures. A call is `<prefix><name>&<arg>&...`: each argument "
         "percent-encoded on its own (`%26` for an `&` inside one). Answers are text/plain unless said "
         "otherwise; every error is the JSON object `Error`."}}},
      {"servers", {{{"url", server}}}},
      {"paths", std::move(paths)},
      {"components", {{"schemas", {{"Error", error_schema()}}}, {"responses", std::move(responses)}}}};
  return document.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace cppapi
