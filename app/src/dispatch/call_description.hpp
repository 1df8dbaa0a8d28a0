// SPDX-License-Identifier: MIT
// What each call tells a client, from its record: the compile-time description of its
// types (cppapi/detail/call_description.hpp), the parameter names parsed from the CALL
// text, and the summary the build took from the `///` lines above CALL. The OpenAPI
// document, the page's typed proxies and the TypeScript declarations are built from it.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cppapi/detail/call_record.hpp"

#include "dispatch/registry.hpp"

namespace cppapi {

struct ParameterInfo {
  std::string name;  ///< as written in the signature; "argN" when it has none
  detail::ParameterType type;
};

struct CallInfo {
  std::string name;     ///< "notes/get"
  std::string summary;  ///< may be empty
  std::string signature;
  bool reads_body = false;     ///< takes the Request, so may read a POST body
  bool raw_arguments = false;  ///< takes const Args&: any number of string arguments
  std::vector<ParameterInfo> parameters;
  detail::ReturnKind returns = detail::ReturnKind::kReply;

  /// How many parameters must be given (the rest are trailing optionals).
  std::size_t required_count() const;
};

/// The names in a CALL's parameter text, one per parameter ("" for an unnamed one):
/// "const cppapi::Request& req, std::optional<int> n" -> {"req", "n"}.
std::vector<std::string> parameter_names(std::string_view parameters);

CallInfo describe_call(const detail::CallRecord& record);
std::vector<CallInfo> describe_calls(const Registry& registry);

/// The statuses the framework itself may answer this call with (a handler's HttpError
/// may add any other: that cannot be known from the signature).
std::vector<int> error_statuses(const CallInfo& call);
/// When the framework answers with `status`.
std::string_view error_status_meaning(int status);

/// JSON Schema of a parameter's value, with the range of an integer type.
nlohmann::json parameter_schema(const detail::ParameterType& type);
/// "integer", "number", "boolean", "text", "json", "reply", "nothing".
std::string_view return_kind_name(detail::ReturnKind kind);
/// The Content-Type of a successful answer ("" when no body or the handler chooses).
std::string_view return_content_type(detail::ReturnKind kind);
/// JSON Schema of a successful answer's value.
nlohmann::json return_schema(detail::ReturnKind kind);
/// JSON Schema of every error body: {"error", "status", "call"}.
nlohmann::json error_schema();
/// What a HttpError thrown by a handler means for the description.
inline constexpr std::string_view kHandlerStatusesNote =
    "A handler may also answer with any status it throws as cppapi::HttpError (same JSON error "
    "object); those statuses cannot be known from its signature.";

/// `cppapi calls --json`: every call described, and the shared error object.
std::string calls_json(const Registry& registry);

}  // namespace cppapi
