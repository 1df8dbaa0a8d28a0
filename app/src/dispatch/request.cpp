// SPDX-License-Identifier: MIT
#include "cppapi/request.hpp"

#include <cctype>
#include <cstring>

namespace cppapi {

std::string_view Request::param(std::string_view name) const {
  // strncmp stops at the first differing byte, so most entries cost a byte or two.
  if (name.find('\0') != std::string_view::npos) return {};  // strncmp would stop early and read past
  for (const char* const* entry = envp_; entry && *entry; ++entry) {
    if (std::strncmp(*entry, name.data(), name.size()) == 0 && (*entry)[name.size()] == '=')
      return std::string_view(*entry + name.size() + 1);
  }
  return {};
}

std::string_view Request::header(std::string_view name) const {
  // CGI spells request headers HTTP_USER_AGENT for "User-Agent"; Content-Type and
  // Content-Length are the two that come without the prefix.
  std::string cgi_name = "HTTP_";
  for (char c : name) cgi_name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (cgi_name == "HTTP_CONTENT_TYPE" || cgi_name == "HTTP_CONTENT_LENGTH") return param(cgi_name.substr(5));
  return param(cgi_name);
}

bool Request::https() const {
  const std::string_view value = param("HTTPS");
  return value == "on" || value == "ON" || value == "1";
}

}  // namespace cppapi
