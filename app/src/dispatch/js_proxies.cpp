// SPDX-License-Identifier: MIT
#include "dispatch/js_proxies.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "dispatch/call_description.hpp"

namespace cppapi {
namespace {

/// The calls as a tree of folders: `notes/get` is child `get` of node `notes`.
struct Node {
  const CallInfo* call = nullptr;
  std::map<std::string, Node> children;
};

Node make_tree(const std::vector<CallInfo>& calls) {
  Node root;
  for (const CallInfo& call : calls) {
    Node* node = &root;
    std::string_view rest = call.name;
    while (!rest.empty()) {
      const std::size_t slash = rest.find('/');
      node = &node->children[std::string(rest.substr(0, slash))];
      rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
    }
    node->call = &call;
  }
  return root;
}

bool is_identifier(std::string_view name) {
  return !name.empty() && !std::isdigit(static_cast<unsigned char>(name.front())) &&
         std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; });
}

/// `name` as a property: itself when it is an identifier, else quoted ("foo-bar").
std::string property(std::string_view name) {
  return is_identifier(name) ? std::string(name) : nlohmann::json(name).dump();
}

std::string js_member(std::string_view object, std::string_view name) {
  return is_identifier(name) ? fmt::format("{}.{}", object, name)
                             : fmt::format("{}[{}]", object, nlohmann::json(name).dump());
}

/// A C++ parameter name that is a reserved word in TypeScript gets a trailing `_`.
std::string ts_parameter_name(const std::string& name) {
  static constexpr std::array<std::string_view, 46> kReserved = {
      "break",   "case",      "catch",  "class",  "const",      "continue",   "debugger", "default",
      "delete",  "do",        "else",   "enum",   "export",     "extends",    "false",    "finally",
      "for",     "function",  "if",     "import", "in",         "instanceof", "new",      "null",
      "return",  "super",     "switch", "this",   "throw",      "true",       "try",      "typeof",
      "var",     "void",      "while",  "with",   "implements", "interface",  "let",      "package",
      "private", "protected", "public", "static", "yield",      "arguments"};
  const bool reserved =
      std::find(kReserved.begin(), kReserved.end(), name) != kReserved.end() || name == "eval" || name == "await";
  return reserved ? name + "_" : name;
}

std::string_view ts_type(detail::ValueKind kind) {
  switch (kind) {
    case detail::ValueKind::kInteger:
    case detail::ValueKind::kNumber:
      return "number";
    case detail::ValueKind::kBoolean:
      return "boolean";
    case detail::ValueKind::kString:
      break;
  }
  return "string";
}

std::string_view ts_return(detail::ReturnKind kind) {
  switch (kind) {
    case detail::ReturnKind::kNothing:
      return "void";
    case detail::ReturnKind::kInteger:
    case detail::ReturnKind::kNumber:
      return "number";
    case detail::ReturnKind::kBoolean:
      return "boolean";
    case detail::ReturnKind::kText:
      return "string";
    default:
      return "unknown";
  }
}

/// How calls.js turns api()'s answer (text for text/plain) into the declared type.
std::string_view js_converter(detail::ReturnKind kind) {
  switch (kind) {
    case detail::ReturnKind::kNothing:
      return "nothing";
    case detail::ReturnKind::kInteger:
    case detail::ReturnKind::kNumber:
      return "number";
    case detail::ReturnKind::kBoolean:
      return "boolean";
    default:
      return "null";
  }
}

std::string ts_parameters(const CallInfo& call) {
  if (call.raw_arguments) return "...args: CppapiArgument[]";
  std::string out;
  for (const ParameterInfo& parameter : call.parameters) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{}{}: {}", ts_parameter_name(parameter.name), parameter.type.optional ? "?" : "",
                       ts_type(parameter.type.kind));
  }
  return out;
}

std::string ts_doc(const CallInfo& call, std::string_view indent) {
  std::string text = call.summary;
  // A summary cannot end the comment early.
  for (std::size_t at = text.find("*/"); at != std::string::npos; at = text.find("*/", at)) text.replace(at, 2, "*\\/");
  const std::string signature = fmt::format("`{}({})`", call.name, call.signature);
  return fmt::format("{}/** {}{}{} */\n", indent, text, text.empty() ? "" : " ", signature);
}

void write_ts(const Node& node, std::string& out, int depth) {
  const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
  for (const auto& [name, child] : node.children) {
    const CallInfo* call = child.call;
    const std::string signature =
        call ? fmt::format("({}): Promise<{}>", ts_parameters(*call), ts_return(call->returns)) : "";
    const bool post = call && call->reads_body && !child.children.contains("post");
    if (call && child.children.empty() && !post) {
      out += ts_doc(*call, indent);
      out += fmt::format("{}{}{};\n", indent, property(name), signature);
      continue;
    }
    if (call) out += ts_doc(*call, indent);
    out += fmt::format("{}{}: {{\n", indent, property(name));
    if (call) out += fmt::format("{}  {};\n", indent, signature);
    if (post) {
      std::string rest = ts_parameters(*call);
      out += fmt::format("{}  /** POSTs `body` (as api.post() sends it) with the same arguments. */\n", indent);
      out += fmt::format("{}  post(body: CppapiBody{}{}): Promise<{}>;\n", indent, rest.empty() ? "" : ", ", rest,
                         ts_return(call->returns));
    }
    write_ts(child, out, depth + 1);
    out += fmt::format("{}}};\n", indent);
  }
}

void write_js(const Node& node, std::string_view object, std::string& out) {
  for (const auto& [name, child] : node.children) {
    const std::string member = js_member(object, name);
    if (child.call) {
      out += fmt::format("  {} = call({}, {}, {});\n", member, nlohmann::json(child.call->name).dump(),
                         js_converter(child.call->returns), child.call->reads_body ? "true" : "false");
    } else {
      out += fmt::format("  {} = {{}};\n", member);
    }
    write_js(child, member, out);
  }
}

}  // namespace

std::string js_proxies(const Registry& registry, std::string_view requests_js) {
  const std::vector<CallInfo> calls = describe_calls(registry);
  std::string out =
      "// calls.js: generated by cppapi from the CALL signatures. Do not edit.\n"
      "//   <script src=\"/api/calls.js\"></script>\n"
      "//   calls.add(2, 3).then(function (sum) { ... });\n"
      "// One function per call, nested by folder (calls.notes.get(1)), each returning the\n"
      "// Promise of api() from requests.js: same encoding, same errors. Numbers and booleans\n"
      "// are converted from the text answer; declarations for TypeScript: `cppapi types`.\n"
      "if (typeof api !== \"function\") {\n"
      "// requests.js, for a page that did not load it (the base is where calls.js came from).\n";
  out += requests_js;
  if (!out.empty() && out.back() != '\n') out += '\n';
  out +=
      "(function (script) {\n"
      "  if (script && !script.hasAttribute(\"data-base\") && script.src)\n"
      "    cppapi.base = script.src.replace(/calls\\.js(?:[?#].*)?$/, \"\");\n"
      "})(document.currentScript);\n"
      "}\n"
      "(function (global) {\n"
      "  \"use strict\";\n"
      "  var number = function (text) { return Number(text); };\n"
      "  var boolean = function (text) { return text === true || text === \"true\"; };\n"
      "  var nothing = function () { return undefined; };\n"
      "  /** A proxy for one call: trailing undefined arguments are left out (optional parameters). */\n"
      "  function call(name, convert, post) {\n"
      "    function send(args, body) {\n"
      "      args = [].slice.call(args);\n"
      "      while (args.length && args[args.length - 1] === undefined) args.pop();\n"
      "      var answer = body ? global.api.post.apply(null, [name, body[0]].concat(args))\n"
      "                        : global.api.apply(null, [name].concat(args));\n"
      "      return convert ? answer.then(convert) : answer;\n"
      "    }\n"
      "    var proxy = function () { return send(arguments); };\n"
      "    if (post) proxy.post = function (body) { return send([].slice.call(arguments, 1), [body]); };\n"
      "    return proxy;\n"
      "  }\n"
      "  var calls = {};\n";
  write_js(make_tree(calls), "calls", out);
  out +=
      "  global.calls = calls;\n"
      "})(this);\n";
  return out;
}

std::string typescript_declarations(const Registry& registry) {
  const std::vector<CallInfo> calls = describe_calls(registry);
  std::string out =
      "// Generated by `cppapi types` from the CALL signatures. Do not edit.\n"
      "// <script src=\"/api/calls.js\"></script> defines `calls`; each call returns the Promise of\n"
      "// requests.js's api(), which rejects with a CppapiError.\n"
      "\n"
      "/** The Error a call rejects with. */\n"
      "interface CppapiError extends Error {\n"
      "  /** the HTTP status (0 for a network error) */\n"
      "  status: number;\n"
      "  /** the call as sent */\n"
      "  call: string;\n"
      "}\n"
      "\n"
      "/** An argument of a call that takes any number of them (const cppapi::Args&). */\n"
      "type CppapiArgument = string | number | boolean;\n"
      "/** A body for .post(): a string, Blob, FormData or URLSearchParams as itself, anything else as JSON. */\n"
      "type CppapiBody = string | Blob | FormData | URLSearchParams | object;\n"
      "\n"
      "declare const calls: {\n";
  write_ts(make_tree(calls), out, 1);
  out += "};\n";
  return out;
}

}  // namespace cppapi
