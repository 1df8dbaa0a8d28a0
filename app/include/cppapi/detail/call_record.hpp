// SPDX-License-Identifier: MIT
// One entry of the call table. The build generates, for each call file, a
// translation unit that includes the file and defines a constant CallRecord for
// its handler; an index lists them all (the nginx module-table idea: no static
// constructors, nothing the linker could drop).
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "cppapi/args.hpp"
#include "cppapi/detail/call_description.hpp"
#include "cppapi/detail/convert.hpp"
#include "cppapi/detail/to_reply.hpp"
#include "cppapi/http_error.hpp"
#include "cppapi/reply.hpp"
#include "cppapi/request.hpp"

namespace cppapi::detail {

using Thunk = Reply (*)(const Request&, const Args&);

struct CallRecord {
  const char* name;        ///< "notes/get"
  const char* parameters;  ///< the handler's parameter list as written
  Thunk invoke;
  const char* summary = "";                      ///< the `///` line(s) above CALL in the call file
  const CallDescription* description = nullptr;  ///< types, body, return kind; nullptr: unknown
};

template <class... P>
struct TypeList {};

template <class F>
struct HandlerTraits;
template <class R, class... P>
struct HandlerTraits<R (*)(P...)> {
  using Params = TypeList<std::remove_cvref_t<P>...>;
};

template <class P>
struct ValueTypeOf {
  using type = P;
};
template <class P>
struct ValueTypeOf<std::optional<P>> {
  using type = P;
};
template <class P>
using ValueType = typename ValueTypeOf<P>::type;

template <class... P>
constexpr std::size_t required_count() {
  std::size_t count = 0;
  ((count += IsOptional<P>::value ? 0 : 1), ...);
  return count;
}

template <class... P>
constexpr bool optionals_are_trailing() {
  const bool optional[] = {IsOptional<P>::value..., true};
  for (std::size_t i = 1; i < sizeof...(P); ++i)
    if (optional[i - 1] && !optional[i]) return false;
  return true;
}

[[noreturn]] void throw_wrong_count(std::size_t required, std::size_t total, std::size_t given,
                                    const char* first_missing);

template <class P>
P convert_parameter(const Args& args, std::size_t index) {
  if constexpr (IsOptional<P>::value) {
    if (index >= args.size()) return std::nullopt;
    return convert_argument<typename P::value_type>(args[index], index + 1);
  } else {
    return convert_argument<P>(args[index], index + 1);
  }
}

template <class... P>
constexpr const char* first_missing_type(std::size_t given) {
  const char* names[] = {type_name<ValueType<P>>()..., ""};
  return names[given < sizeof...(P) ? given : sizeof...(P)];
}

template <auto Handler, class... P, std::size_t... I>
auto call_typed(const Args& args, std::index_sequence<I...>, auto&&... leading) {
  static_assert(optionals_are_trailing<P...>(), "std::optional parameters of a CALL must come last");
  constexpr std::size_t required = required_count<P...>();
  if (args.size() < required || args.size() > sizeof...(P))
    throw_wrong_count(required, sizeof...(P), args.size(), first_missing_type<P...>(args.size()));
  // Braced initialisation evaluates the conversions left to right, so the first bad argument is reported.
  std::tuple<P...> values{convert_parameter<P>(args, I)...};
  return Handler(leading..., std::get<I>(std::move(values))...);
}

// A named template rather than a generic lambda: clang checks a lambda's discarded
// `if constexpr` branch when it does not depend on the lambda's own parameters.
template <auto Handler, class R, class... Rest>
auto call_after_request(const Request& request, const Args& args, TypeList<R, Rest...>) {
  if constexpr (sizeof...(Rest) == 1 && (std::is_same_v<Rest, Args> && ...))
    return Handler(request, args);
  else
    return call_typed<Handler, Rest...>(args, std::index_sequence_for<Rest...>{}, request);
}

template <auto Handler, class... P>
auto call_with(const Request& request, const Args& args, TypeList<P...>) {
  if constexpr (sizeof...(P) >= 1 && std::is_same_v<std::tuple_element_t<0, std::tuple<P..., void>>, Request>) {
    return call_after_request<Handler>(request, args, TypeList<P...>{});
  } else if constexpr (sizeof...(P) == 1 && (std::is_same_v<P, Args> && ...)) {
    return Handler(args);
  } else {
    return call_typed<Handler, P...>(args, std::index_sequence_for<P...>{});
  }
}

template <auto Handler>
Reply invoke(const Request& request, const Args& args) {
  using Params = typename HandlerTraits<decltype(Handler)>::Params;
  using Result = decltype(call_with<Handler>(request, args, Params{}));
  if constexpr (std::is_void_v<Result>) {
    call_with<Handler>(request, args, Params{});
    return Reply::text("");
  } else {
    return to_reply(call_with<Handler>(request, args, Params{}));
  }
}

template <auto Handler>
constexpr CallRecord make_record(const char* name, const char* parameters, const char* summary = "") {
  return CallRecord{name, parameters, &invoke<Handler>, summary, description_of<Handler>()};
}

}  // namespace cppapi::detail
