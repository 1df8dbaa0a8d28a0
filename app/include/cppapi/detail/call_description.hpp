// SPDX-License-Identifier: MIT
// What a call's C++ signature tells a client, worked out at compile time from the
// handler's parameter and return types: each typed parameter's JSON type and range,
// which are optional, whether the handler takes the Request (and so may read a body),
// and what kind of answer it returns. The parameter names are not types: they come
// from the CALL text (CallRecord::parameters) and are parsed at run time.
#pragma once
#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "cppapi/args.hpp"
#include "cppapi/detail/convert.hpp"
#include "cppapi/detail/to_reply.hpp"
#include "cppapi/reply.hpp"
#include "cppapi/request.hpp"

namespace cppapi::detail {

/// The JSON Schema type of one typed parameter.
enum class ValueKind : unsigned char { kInteger, kNumber, kBoolean, kString };

struct ParameterType {
  ValueKind kind = ValueKind::kString;
  const char* cpp_type = "std::string";  ///< the value type as written: "long", "std::string_view"
  long long minimum = 0;                 ///< integers: the smallest value that converts
  unsigned long long maximum = 0;        ///< integers: the largest value that converts
  bool optional = false;                 ///< a trailing std::optional<T>: may be omitted
};

/// What the handler's return type says about its answer (see to_reply.hpp).
enum class ReturnKind : unsigned char {
  kNothing,  ///< void: 200 with an empty body
  kInteger,  ///< an integral number, as text/plain
  kNumber,   ///< a floating-point number, as text/plain
  kBoolean,  ///< "true" or "false", as text/plain
  kText,     ///< a string, as text/plain
  kJson,     ///< anything with dump(), as application/json
  kReply,    ///< cppapi::Reply: status, content type and headers chosen by the handler
};

struct CallDescription {
  bool takes_request = false;                 ///< a leading const cppapi::Request&: may read the body
  bool raw_arguments = false;                 ///< const cppapi::Args&: any number of string arguments
  const ParameterType* parameters = nullptr;  ///< the typed parameters after the Request
  std::size_t parameter_count = 0;
  ReturnKind returns = ReturnKind::kReply;
};

template <class P>
struct OptionalValue {
  using type = P;
};
template <class P>
struct OptionalValue<std::optional<P>> {
  using type = P;
};

template <class T>
constexpr const char* cpp_type_name() {
  if constexpr (std::is_same_v<T, int>)
    return "int";
  else if constexpr (std::is_same_v<T, long>)
    return "long";
  else if constexpr (std::is_same_v<T, long long>)
    return "long long";
  else if constexpr (std::is_same_v<T, unsigned>)
    return "unsigned";
  else if constexpr (std::is_same_v<T, unsigned long>)
    return "unsigned long";
  else if constexpr (std::is_same_v<T, double>)
    return "double";
  else if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_same_v<T, std::string_view>)
    return "std::string_view";
  else
    return "std::string";
}

/// One typed parameter `P` (maybe std::optional<T>). A type the framework cannot
/// convert is refused by convert_argument's static_assert; here it is just a string.
template <class P>
constexpr ParameterType parameter_type() {
  using T = std::remove_cvref_t<typename OptionalValue<P>::type>;
  ParameterType type;
  type.cpp_type = cpp_type_name<T>();
  type.optional = IsOptional<P>::value;
  if constexpr (std::is_same_v<T, bool>) {
    type.kind = ValueKind::kBoolean;
  } else if constexpr (std::is_integral_v<T>) {
    type.kind = ValueKind::kInteger;
    type.minimum = static_cast<long long>(std::numeric_limits<T>::min());
    type.maximum = static_cast<unsigned long long>(std::numeric_limits<T>::max());
  } else if constexpr (std::is_floating_point_v<T>) {
    type.kind = ValueKind::kNumber;
  }
  return type;
}

template <class R>
constexpr ReturnKind return_kind() {
  using V = std::remove_cvref_t<R>;
  if constexpr (std::is_void_v<V>)
    return ReturnKind::kNothing;
  else if constexpr (std::is_same_v<V, Reply>)
    return ReturnKind::kReply;
  else if constexpr (std::is_same_v<V, bool>)
    return ReturnKind::kBoolean;
  else if constexpr (std::is_integral_v<V>)
    return ReturnKind::kInteger;
  else if constexpr (std::is_floating_point_v<V>)
    return ReturnKind::kNumber;
  else if constexpr (std::is_convertible_v<const V&, std::string_view>)
    return ReturnKind::kText;
  else if constexpr (JsonLike<V>)
    return ReturnKind::kJson;
  else
    return ReturnKind::kReply;  // to_reply refuses it with a message
}

/// The parameters after an optional leading Request: `Args` alone, or typed ones.
template <class... P>
struct ArgumentShape {
  static constexpr bool raw = false;
  static constexpr std::size_t count = sizeof...(P);
  static constexpr ParameterType types[sizeof...(P) + 1] = {parameter_type<P>()..., ParameterType{}};
};
template <>
struct ArgumentShape<Args> {
  static constexpr bool raw = true;
  static constexpr std::size_t count = 0;
  static constexpr ParameterType types[1] = {ParameterType{}};
};

template <class... P>
struct CallShape : ArgumentShape<P...> {
  static constexpr bool takes_request = false;
};
template <class... Rest>
struct CallShape<Request, Rest...> : ArgumentShape<Rest...> {
  static constexpr bool takes_request = true;
};

template <class F>
struct Signature;
template <class R, class... P>
struct Signature<R (*)(P...)> {
  using Shape = CallShape<std::remove_cvref_t<P>...>;
  static constexpr CallDescription description{Shape::takes_request, Shape::raw, Shape::types, Shape::count,
                                               return_kind<R>()};
};

/// The description of `Handler`: a constant with static storage.
template <auto Handler>
constexpr const CallDescription* description_of() {
  return &Signature<decltype(Handler)>::description;
}

}  // namespace cppapi::detail
