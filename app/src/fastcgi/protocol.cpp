// SPDX-License-Identifier: MIT
#include "fastcgi/protocol.hpp"

#include <algorithm>
#include <charconv>
#include <stdexcept>

#include "core/content_length.hpp"

namespace cppapi::fastcgi {
namespace {

std::uint8_t byte_at(std::string_view bytes, std::size_t i) { return static_cast<std::uint8_t>(bytes[i]); }

/// Reads a name or value length (1 byte, or 4 with the high bit set); false if cut short.
bool read_length(std::string_view bytes, std::size_t& pos, std::size_t& length) {
  if (pos >= bytes.size()) return false;
  if (!(byte_at(bytes, pos) & 0x80)) {
    length = byte_at(bytes, pos++);
    return true;
  }
  if (bytes.size() - pos < 4) return false;
  length = (std::size_t{byte_at(bytes, pos) & 0x7fu} << 24) | (std::size_t{byte_at(bytes, pos + 1)} << 16) |
           (std::size_t{byte_at(bytes, pos + 2)} << 8) | byte_at(bytes, pos + 3);
  pos += 4;
  return true;
}

void append_length(std::string& out, std::size_t length) {
  if (length < 0x80) {
    out += static_cast<char>(length);
    return;
  }
  out += static_cast<char>(((length >> 24) & 0x7f) | 0x80);
  out += static_cast<char>((length >> 16) & 0xff);
  out += static_cast<char>((length >> 8) & 0xff);
  out += static_cast<char>(length & 0xff);
}

/// Calls `visit(name, value)` for each pair; false if the pairs are malformed.
template <class Visit>
bool for_each_pair(std::string_view bytes, Visit visit) {
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    std::size_t name_length = 0, value_length = 0;
    if (!read_length(bytes, pos, name_length) || !read_length(bytes, pos, value_length)) return false;
    // Compared one at a time against what is left: no sum that could wrap.
    if (name_length > bytes.size() - pos) return false;
    const std::string_view name = bytes.substr(pos, name_length);
    pos += name_length;
    if (value_length > bytes.size() - pos) return false;
    visit(name, bytes.substr(pos, value_length));
    pos += value_length;
  }
  return true;
}

}  // namespace

RequestParser::Result RequestParser::consume(std::string_view& input, std::string& replies) {
  while (state_ != State::kReady && input.size() >= kHeaderSize) {
    const std::uint8_t version = byte_at(input, 0), type = byte_at(input, 1);
    const auto id = static_cast<std::uint16_t>(byte_at(input, 2) << 8 | byte_at(input, 3));
    const std::size_t content_length = std::size_t{byte_at(input, 4)} << 8 | byte_at(input, 5);
    const std::size_t padding = byte_at(input, 6);
    if (version != kVersion) return broken("unsupported FastCGI version " + std::to_string(version));
    if (input.size() < kHeaderSize + content_length + padding) break;  // wait for the whole record
    const std::string_view content = input.substr(kHeaderSize, content_length);
    input.remove_prefix(kHeaderSize + content_length + padding);
    if (const Result result = handle_record(type, id, content, replies);
        result == Result::kBroken || result == Result::kClose)
      return result;
  }
  return state_ == State::kReady ? Result::kRequestReady : Result::kNeedMore;
}

RequestParser::Result RequestParser::handle_record(std::uint8_t type, std::uint16_t id, std::string_view content,
                                                   std::string& replies) {
  if (id == 0) return handle_management(type, content, replies);
  if (type == kBeginRequest) return handle_begin(id, content, replies);
  if (state_ == State::kIdle || id != current_.id) return Result::kNeedMore;  // inactive id: ignored, as the spec says
  return handle_stream(type, id, content, replies);
}

RequestParser::Result RequestParser::handle_management(std::uint8_t type, std::string_view content,
                                                       std::string& replies) {
  if (type != kGetValues) {
    append_header(replies, kUnknownType, 0, 8);
    replies += static_cast<char>(type);
    replies.append(7, '\0');
    return Result::kNeedMore;
  }
  // Each known name answered once, however often it is asked: the answer stays one small record.
  constexpr std::string_view kNames[] = {"FCGI_MPXS_CONNS", "FCGI_MAX_CONNS", "FCGI_MAX_REQS"};
  constexpr std::string_view kValues[] = {"0", "1000", "1000"};
  bool asked[3] = {false, false, false};
  const bool well_formed = for_each_pair(content, [&](std::string_view name, std::string_view) {
    for (std::size_t i = 0; i < 3; ++i) asked[i] = asked[i] || name == kNames[i];
  });
  if (!well_formed) return broken("malformed GET_VALUES");
  std::string values;
  for (std::size_t i = 0; i < 3; ++i)
    if (asked[i]) append_name_value(values, kNames[i], kValues[i]);
  append_header(replies, kGetValuesResult, 0, values.size());
  replies += values;
  return Result::kNeedMore;
}

RequestParser::Result RequestParser::handle_begin(std::uint16_t id, std::string_view content, std::string& replies) {
  if (content.size() != 8) return broken("BEGIN_REQUEST of the wrong size");
  if (state_ != State::kIdle) {
    if (id == current_.id) return broken("BEGIN_REQUEST twice for one request");
    append_end_request(replies, id, 0, kCantMultiplex);
    return Result::kNeedMore;
  }
  const auto role = static_cast<std::uint16_t>(byte_at(content, 0) << 8 | byte_at(content, 1));
  if (role != kResponderRole)
    return end_without_request(id, kUnknownRole, replies, byte_at(content, 2) & kKeepConnection);
  current_ = IncomingRequest{};
  current_.id = id;
  current_.keep_connection = byte_at(content, 2) & kKeepConnection;
  raw_params_.clear();
  state_ = State::kParams;
  return Result::kNeedMore;
}

RequestParser::Result RequestParser::handle_stream(std::uint8_t type, std::uint16_t id, std::string_view content,
                                                   std::string& replies) {
  switch (type) {
    case kParams:
      if (state_ != State::kParams) return broken("PARAMS after the parameters ended");
      if (content.empty()) {
        if (!decode_params()) return broken("malformed PARAMS");
        state_ = State::kStdin;
      } else if (raw_params_.size() + content.size() > limits_.max_params_bytes) {
        return broken("PARAMS larger than " + std::to_string(limits_.max_params_bytes) + " bytes");
      } else {
        raw_params_.append(content);
      }
      return Result::kNeedMore;
    case kStdin:
      if (state_ != State::kStdin) return broken("STDIN before the parameters ended");
      if (content.empty()) {
        state_ = State::kReady;
        return Result::kRequestReady;
      }
      current_.body_bytes_seen += content.size();
      if (!current_.declared_too_large && current_.body_bytes_seen <= limits_.max_body_bytes)
        current_.body.append(content);
      return Result::kNeedMore;
    case kAbortRequest:
      state_ = State::kIdle;
      return end_without_request(id, kRequestComplete, replies, current_.keep_connection);
    default:
      return Result::kNeedMore;  // DATA (filter role only) and anything unknown
  }
}

bool RequestParser::decode_params() {
  // A pair takes at least its "NAME=value\0" size in raw form (its two length bytes stand for
  // '=' and the NUL), so params never outgrows this reserve and envp's pointers stay valid.
  current_.params.clear();
  current_.params.reserve(raw_params_.size() + 64);
  current_.envp.clear();
  const bool well_formed = for_each_pair(raw_params_, [&](std::string_view name, std::string_view value) {
    // A name holding '=' or a NUL anywhere would not survive the "NAME=value" C string form.
    // (A loop: find_first_of calls memchr once per character of the name.)
    const bool name_ok =
        !name.empty() && std::none_of(name.begin(), name.end(), [](char c) { return c == '=' || c == '\0'; });
    if (!name_ok || value.find('\0') != std::string_view::npos) return;
    current_.envp.push_back(current_.params.data() + current_.params.size());
    current_.params.append(name).append(1, '=').append(value).append(1, '\0');
    if (name == "CONTENT_LENGTH") {
      // Checked before any body byte is kept; the body that arrives is still counted, as the header may lie.
      current_.declared_too_large =
          judge_content_length(value, limits_.max_body_bytes).verdict == DeclaredLength::Verdict::kTooLarge;
    }
  });
  if (!well_formed) return false;
  if (raw_params_.capacity() > kMaxContent) std::string().swap(raw_params_);  // no peak kept for the connection's life
  current_.envp.push_back(nullptr);
  return true;
}

IncomingRequest::IncomingRequest(const IncomingRequest& other)
    : id(other.id),
      keep_connection(other.keep_connection),
      params(other.params),
      envp(other.envp),
      body(other.body),
      body_bytes_seen(other.body_bytes_seen),
      declared_too_large(other.declared_too_large) {
  relocate_envp(other.params.data());
}

IncomingRequest::IncomingRequest(IncomingRequest&& other) noexcept
    : id(other.id),
      keep_connection(other.keep_connection),
      body_bytes_seen(other.body_bytes_seen),
      declared_too_large(other.declared_too_large) {
  *this = std::move(other);
}

IncomingRequest& IncomingRequest::operator=(const IncomingRequest& other) {
  if (this != &other) *this = IncomingRequest(other);
  return *this;
}

IncomingRequest& IncomingRequest::operator=(IncomingRequest&& other) noexcept {
  if (this == &other) return *this;
  const char* const old_base = other.params.data();
  id = other.id;
  keep_connection = other.keep_connection;
  params = std::move(other.params);
  envp = std::move(other.envp);
  body = std::move(other.body);
  body_bytes_seen = other.body_bytes_seen;
  declared_too_large = other.declared_too_large;
  relocate_envp(old_base);
  other.envp.clear();
  return *this;
}

void IncomingRequest::relocate_envp(const char* old_base) noexcept {
  for (const char*& entry : envp)
    if (entry) entry = params.data() + (entry - old_base);
}

IncomingRequest RequestParser::take_request() {
  state_ = State::kIdle;
  return std::move(current_);
}

// Without KEEP_CONN the web server closes its end after END_REQUEST; so do we.
RequestParser::Result RequestParser::end_without_request(std::uint16_t id, ProtocolStatus status, std::string& replies,
                                                         bool keep) {
  append_end_request(replies, id, 0, status);
  return keep ? Result::kNeedMore : Result::kClose;
}

RequestParser::Result RequestParser::broken(std::string why) {
  error_ = std::move(why);
  state_ = State::kIdle;
  return Result::kBroken;
}

void append_header(std::string& out, std::uint8_t type, std::uint16_t id, std::size_t content_length) {
  if (content_length > kMaxContent) throw std::length_error("FastCGI record content over 65535 bytes");
  const char header[kHeaderSize] = {static_cast<char>(kVersion),
                                    static_cast<char>(type),
                                    static_cast<char>(id >> 8),
                                    static_cast<char>(id & 0xff),
                                    static_cast<char>((content_length >> 8) & 0xff),
                                    static_cast<char>(content_length & 0xff),
                                    0,
                                    0};
  out.append(header, kHeaderSize);
}

void append_end_request(std::string& out, std::uint16_t id, std::uint32_t app_status, ProtocolStatus status) {
  append_header(out, kEndRequest, id, 8);
  const char body[8] = {static_cast<char>(app_status >> 24),
                        static_cast<char>((app_status >> 16) & 0xff),
                        static_cast<char>((app_status >> 8) & 0xff),
                        static_cast<char>(app_status & 0xff),
                        static_cast<char>(status),
                        0,
                        0,
                        0};
  out.append(body, 8);
}

void append_reply(std::string& out, std::uint16_t id, std::string_view head, std::string_view body) {
  const std::size_t records = (head.size() + body.size()) / kMaxContent + 3;
  out.reserve(out.size() + head.size() + body.size() + records * kHeaderSize + 8);
  // Head and body travel in the same records: the head alone is usually tiny.
  std::string_view parts[2] = {head, body};
  std::size_t part = 0;
  while (part < 2) {
    std::size_t room = kMaxContent;
    std::size_t length = 0;
    for (std::size_t p = part; p < 2 && room > 0; ++p) {
      const std::size_t take = std::min(room, parts[p].size());
      length += take;
      room -= take;
    }
    if (length == 0) break;
    append_header(out, kStdout, id, length);
    while (length > 0) {
      const std::size_t take = std::min(length, parts[part].size());
      out.append(parts[part].substr(0, take));
      parts[part].remove_prefix(take);
      length -= take;
      if (parts[part].empty()) ++part;
    }
    while (part < 2 && parts[part].empty()) ++part;
  }
  append_header(out, kStdout, id, 0);
  append_end_request(out, id, 0, kRequestComplete);
}

void append_name_value(std::string& out, std::string_view name, std::string_view value) {
  append_length(out, name.size());
  append_length(out, value.size());
  out.append(name);
  out.append(value);
}

}  // namespace cppapi::fastcgi
