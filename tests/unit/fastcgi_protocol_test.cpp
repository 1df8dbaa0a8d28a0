// SPDX-License-Identifier: MIT
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fastcgi/protocol.hpp"

namespace cppapi::fastcgi {
namespace {

std::string record(std::uint8_t type, std::uint16_t id, std::string_view content, std::uint8_t padding = 0) {
  std::string out;
  append_header(out, type, id, content.size());
  out[6] = static_cast<char>(padding);
  out.append(content);
  out.append(padding, '\xAA');
  return out;
}

std::string begin(std::uint16_t id, bool keep = false, std::uint16_t role = kResponderRole) {
  const char body[8] = {
      static_cast<char>(role >> 8), static_cast<char>(role & 0xff), keep ? '\1' : '\0', 0, 0, 0, 0, 0};
  return record(kBeginRequest, id, std::string_view(body, 8));
}

std::string params(std::uint16_t id, std::initializer_list<std::pair<std::string, std::string>> pairs) {
  std::string content;
  for (const auto& [name, value] : pairs) append_name_value(content, name, value);
  return record(kParams, id, content) + record(kParams, id, "");
}

std::string request(std::uint16_t id, std::string_view body = "", bool keep = false) {
  std::string out = begin(id, keep) + params(id, {{"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/api/add&2&3"}});
  if (!body.empty()) out += record(kStdin, id, body);
  return out + record(kStdin, id, "");
}

std::string param(const IncomingRequest& request, std::string_view name) {
  for (const char* const* entry = request.envp.data(); *entry; ++entry) {
    std::string_view text(*entry);
    if (text.substr(0, name.size()) == name && text.size() > name.size() && text[name.size()] == '=')
      return std::string(text.substr(name.size() + 1));
  }
  return "<absent>";
}

TEST(FastcgiParser, ReadsARequestWholeOrByteByByte) {
  const std::string bytes = request(1, "hello", true) + request(2);
  for (const std::size_t chunk : {bytes.size(), std::size_t{1}, std::size_t{7}, std::size_t{9}}) {
    RequestParser parser({});
    std::string buffer, replies;
    std::vector<IncomingRequest> seen;
    for (std::size_t pos = 0; pos < bytes.size(); pos += chunk) {
      buffer.append(bytes.substr(pos, chunk));
      std::string_view input = buffer;
      RequestParser::Result result;
      while ((result = parser.consume(input, replies)) == RequestParser::Result::kRequestReady)
        seen.push_back(parser.take_request());
      ASSERT_NE(result, RequestParser::Result::kBroken) << parser.error();
      buffer.erase(0, buffer.size() - input.size());
    }
    ASSERT_EQ(seen.size(), 2u) << "chunk " << chunk;
    EXPECT_EQ(seen[0].id, 1);
    EXPECT_TRUE(seen[0].keep_connection);
    EXPECT_EQ(seen[0].body, "hello");
    EXPECT_EQ(param(seen[0], "REQUEST_URI"), "/api/add&2&3");
    EXPECT_EQ(param(seen[0], "REQUEST_METHOD"), "POST");
    EXPECT_EQ(seen[1].id, 2);
    EXPECT_FALSE(seen[1].keep_connection);
    EXPECT_EQ(seen[1].body, "");
    EXPECT_TRUE(replies.empty());
    EXPECT_TRUE(buffer.empty());
  }
}

TEST(FastcgiParser, LongNamesAndValuesUseFourByteLengths) {
  const std::string long_value(70000, 'v');
  std::string content;
  append_name_value(content, "HTTP_COOKIE", long_value);
  // A PARAMS stream may be split anywhere, even inside a pair: records of <= 65535 bytes.
  std::string bytes = begin(1);
  for (std::size_t pos = 0; pos < content.size(); pos += kMaxContent)
    bytes += record(kParams, 1, std::string_view(content).substr(pos, kMaxContent));
  bytes += record(kParams, 1, "") + record(kStdin, 1, "");
  ParserLimits limits;
  limits.max_params_bytes = 128 * 1024;
  RequestParser parser(limits);
  std::string_view input = bytes;
  std::string replies;
  ASSERT_EQ(parser.consume(input, replies), RequestParser::Result::kRequestReady) << parser.error();
  EXPECT_EQ(param(parser.take_request(), "HTTP_COOKIE"), long_value);
}

TEST(FastcgiParser, SkipsPaddingAndIgnoresOtherRequestIds) {
  std::string bytes = begin(3);
  std::string content;
  append_name_value(content, "A", "1");
  bytes += record(kParams, 3, content, 5) + record(kParams, 9, "junk") + record(kParams, 3, "", 7);
  bytes += record(kData, 3, "filter data") + record(kStdin, 3, "x", 3) + record(kStdin, 3, "");
  RequestParser parser({});
  std::string_view input = bytes;
  std::string replies;
  ASSERT_EQ(parser.consume(input, replies), RequestParser::Result::kRequestReady) << parser.error();
  const IncomingRequest got = parser.take_request();
  EXPECT_EQ(param(got, "A"), "1");
  EXPECT_EQ(got.body, "x");
}

TEST(FastcgiParser, DropsParamsThatCannotBeCStrings) {
  std::string content;
  append_name_value(content, "GOOD", "yes");
  append_name_value(content, "BAD=NAME", "x");
  append_name_value(content, std::string("NUL\0NAME", 8), "x");
  append_name_value(content, "NULVALUE", std::string("a\0b", 3));
  append_name_value(content, "", "empty name");
  const std::string bytes = begin(1) + record(kParams, 1, content) + record(kParams, 1, "") + record(kStdin, 1, "");
  RequestParser parser({});
  std::string_view input = bytes;
  std::string replies;
  ASSERT_EQ(parser.consume(input, replies), RequestParser::Result::kRequestReady);
  const IncomingRequest got = parser.take_request();
  EXPECT_EQ(param(got, "GOOD"), "yes");
  EXPECT_EQ(got.envp.size(), 2u);  // GOOD and the terminating nullptr
}

TEST(FastcgiParser, RefusesOtherRolesThenMultiplexing) {
  const std::string bytes = begin(4, true, 2 /* authorizer */) + begin(1) + begin(2);
  RequestParser parser({});
  std::string_view input = bytes;
  std::string replies;
  EXPECT_EQ(parser.consume(input, replies), RequestParser::Result::kNeedMore);
  std::string expected;
  append_end_request(expected, 4, 0, kUnknownRole);
  append_end_request(expected, 2, 0, kCantMultiplex);
  EXPECT_EQ(replies, expected);
  EXPECT_TRUE(parser.in_request());
}

TEST(FastcgiParser, EndsTheConnectionAfterARefusalOrAbortWithoutKeepConn) {
  for (const std::string& bytes : {begin(4, false, 2 /* authorizer */) + request(1),
                                   begin(1, false) + record(kAbortRequest, 1, "") + request(2)}) {
    RequestParser parser({});
    std::string_view input = bytes;
    std::string replies;
    EXPECT_EQ(parser.consume(input, replies), RequestParser::Result::kClose);
    EXPECT_EQ(replies.size(), 16u);  // the END_REQUEST, and nothing read after it
    EXPECT_FALSE(parser.in_request());
  }
}

TEST(FastcgiParser, AnswersGetValues) {
  std::string query;
  append_name_value(query, "FCGI_MPXS_CONNS", "");
  append_name_value(query, "FCGI_UNKNOWN", "");
  const std::string bytes = record(kGetValues, 0, query);
  RequestParser parser({});
  std::string_view input = bytes;
  std::string replies;
  EXPECT_EQ(parser.consume(input, replies), RequestParser::Result::kNeedMore);
  std::string values;
  append_name_value(values, "FCGI_MPXS_CONNS", "0");
  EXPECT_EQ(replies, record(kGetValuesResult, 0, values));
}

TEST(FastcgiParser, AnswersUnknownManagementTypes) {
  const std::string bytes = record(42, 0, "");
  RequestParser parser({});
  std::string_view input = bytes;
  std::string replies;
  EXPECT_EQ(parser.consume(input, replies), RequestParser::Result::kNeedMore);
  EXPECT_EQ(replies, record(kUnknownType, 0, std::string("\x2a\0\0\0\0\0\0\0", 8)));
}

TEST(FastcgiParser, BreaksOnBadVersionAndMalformedRecords) {
  const auto broken = [](std::string bytes) {
    RequestParser parser({});
    std::string_view input = bytes;
    std::string replies;
    return parser.consume(input, replies) == RequestParser::Result::kBroken;
  };
  std::string bad_version = begin(1);
  bad_version[0] = 2;
  EXPECT_TRUE(broken(bad_version));
  EXPECT_TRUE(broken(record(kBeginRequest, 1, "short")));
  EXPECT_TRUE(broken(begin(1) + begin(1)));
  EXPECT_TRUE(broken(begin(1) + record(kStdin, 1, "early")));
  EXPECT_TRUE(broken(begin(1) + record(kParams, 1, "\x05") + record(kParams, 1, "")));  // cut-short pair
  EXPECT_TRUE(broken(record(kGetValues, 0, "\x85")));
}

// CVE-2025-23016: lengths near INT_MAX whose sum wraps. Debian's libfcgi aborts; here
// they are longer than what is left, so the stream is refused.
TEST(FastcgiParser, RefusesTheIntegerOverflowPattern) {
  std::string content = "\xff\xff\xff\xfe\xff\xff\xff\xfe";
  content += std::string(1000, 'A');
  RequestParser parser({});
  const std::string bytes = begin(1) + record(kParams, 1, content) + record(kParams, 1, "");
  std::string_view input = bytes;
  std::string replies;
  EXPECT_EQ(parser.consume(input, replies), RequestParser::Result::kBroken);
  EXPECT_EQ(parser.error(), "malformed PARAMS");
}

TEST(FastcgiParser, BoundsParamsAndCountsBodyPastTheLimit) {
  ParserLimits limits;
  limits.max_params_bytes = 100;
  limits.max_body_bytes = 4;
  std::string content;
  append_name_value(content, "X", std::string(200, 'x'));
  RequestParser too_many(limits);
  std::string bytes = begin(1) + record(kParams, 1, content);
  std::string_view input = bytes;
  std::string replies;
  EXPECT_EQ(too_many.consume(input, replies), RequestParser::Result::kBroken);

  RequestParser big_body(limits);
  bytes = request(1, "123456789");
  input = bytes;
  ASSERT_EQ(big_body.consume(input, replies), RequestParser::Result::kRequestReady);
  const IncomingRequest got = big_body.take_request();
  EXPECT_TRUE(got.body_too_large());
  EXPECT_EQ(got.body_bytes_seen, 9u);
  EXPECT_EQ(got.body, "");
}

TEST(FastcgiParser, AbortEndsTheRequest) {
  std::string bytes = begin(1, true) + record(kAbortRequest, 1, "") + request(2);
  RequestParser parser({});
  std::string_view input = bytes;
  std::string replies;
  ASSERT_EQ(parser.consume(input, replies), RequestParser::Result::kRequestReady);
  EXPECT_EQ(parser.take_request().id, 2);
  std::string expected;
  append_end_request(expected, 1, 0, kRequestComplete);
  EXPECT_EQ(replies, expected);
}

TEST(FastcgiReply, SplitsIntoRecordsOfAtMost65535Bytes) {
  const std::string head = "Status: 200 OK\r\nContent-Length: 100000\r\n\r\n";
  const std::string body(100000, 'b');
  std::string out;
  append_reply(out, 7, head, body);
  std::string stdout_stream;
  std::size_t pos = 0, records = 0;
  bool ended = false;
  while (pos < out.size()) {
    const auto type = static_cast<std::uint8_t>(out[pos + 1]);
    const auto id = (static_cast<std::uint8_t>(out[pos + 2]) << 8) | static_cast<std::uint8_t>(out[pos + 3]);
    const std::size_t length = (static_cast<std::uint8_t>(out[pos + 4]) << 8) | static_cast<std::uint8_t>(out[pos + 5]);
    EXPECT_EQ(id, 7);
    EXPECT_LE(length, kMaxContent);
    if (type == kStdout) stdout_stream.append(out, pos + kHeaderSize, length);
    if (type == kEndRequest) ended = true;
    pos += kHeaderSize + length;
    ++records;
  }
  EXPECT_EQ(pos, out.size());
  EXPECT_TRUE(ended);
  EXPECT_EQ(stdout_stream, head + body);
  EXPECT_EQ(records, 2u + 1u + 1u);  // two full STDOUT records, the empty one, END_REQUEST
}

TEST(FastcgiReply, SmallReplyIsOneStdoutRecord) {
  std::string out;
  append_reply(out, 1, "H\r\n\r\n", "5");
  std::string expected = record(kStdout, 1, "H\r\n\r\n5") + record(kStdout, 1, "");
  append_end_request(expected, 1, 0, kRequestComplete);
  EXPECT_EQ(out, expected);
}

}  // namespace
}  // namespace cppapi::fastcgi

namespace cppapi::fastcgi {
namespace {

TEST(FastcgiParser, DeclaredLengthOverTheLimitKeepsNothing) {
  ParserLimits limits;
  limits.max_body_bytes = 100;
  std::string bytes =
      begin(1) + params(1, {{"CONTENT_LENGTH", "1000"}}) + record(kStdin, 1, "tiny") + record(kStdin, 1, "");
  RequestParser parser(limits);
  std::string_view input = bytes;
  std::string replies;
  ASSERT_EQ(parser.consume(input, replies), RequestParser::Result::kRequestReady);
  const IncomingRequest got = parser.take_request();
  EXPECT_TRUE(got.body_too_large());
  EXPECT_EQ(got.body, "");

  bytes = begin(2) + params(2, {{"CONTENT_LENGTH", "4"}}) + record(kStdin, 2, "tiny") + record(kStdin, 2, "");
  input = bytes;
  ASSERT_EQ(parser.consume(input, replies), RequestParser::Result::kRequestReady);
  EXPECT_FALSE(parser.take_request().body_too_large());
}

/// Walks `bytes` as records; false if a header's length does not match what follows.
bool well_formed_records(std::string_view bytes, std::vector<std::string>* contents = nullptr) {
  while (!bytes.empty()) {
    if (bytes.size() < kHeaderSize) return false;
    const std::size_t length =
        std::size_t{static_cast<std::uint8_t>(bytes[4])} << 8 | static_cast<std::uint8_t>(bytes[5]);
    const std::size_t padding = static_cast<std::uint8_t>(bytes[6]);
    if (bytes.size() < kHeaderSize + length + padding) return false;
    if (contents) contents->emplace_back(bytes.substr(kHeaderSize, length));
    bytes.remove_prefix(kHeaderSize + length + padding);
  }
  return true;
}

TEST(FastcgiParser, GetValuesNamingOneNameThousandsOfTimesGetsOneWellFormedRecord) {
  std::string query;
  for (int i = 0; i < 4000; ++i) append_name_value(query, "FCGI_MAX_CONNS", "");  // 64000 bytes
  ASSERT_LE(query.size(), kMaxContent);
  const std::string bytes = record(kGetValues, 0, query) + request(1);
  RequestParser parser({});
  std::string_view input = bytes;
  std::string replies;
  // The stream after it stays in step: the request that follows is read.
  EXPECT_EQ(parser.consume(input, replies), RequestParser::Result::kRequestReady);
  std::vector<std::string> contents;
  ASSERT_TRUE(well_formed_records(replies, &contents)) << "reply of " << replies.size() << " bytes";
  ASSERT_EQ(contents.size(), 1u);
  std::string expected;
  append_name_value(expected, "FCGI_MAX_CONNS", "1000");
  EXPECT_EQ(contents[0], expected);
}

TEST(FastcgiParser, EnvpSurvivesMovesOfShortParams) {
  // Short parameters fit in std::string's inline buffer: moving the request copies
  // them, and pointers into the old storage would then read someone else's bytes.
  const std::string first = begin(1) + params(1, {{"A", "1"}}) + record(kStdin, 1, "");
  const std::string second = begin(2) + params(2, {{"B", "2"}}) + record(kStdin, 2, "");
  RequestParser parser({});
  std::string replies;
  std::string_view input = first;
  ASSERT_EQ(parser.consume(input, replies), RequestParser::Result::kRequestReady);
  IncomingRequest got = parser.take_request();
  input = second;
  ASSERT_EQ(parser.consume(input, replies), RequestParser::Result::kRequestReady);
  IncomingRequest other = parser.take_request();
  EXPECT_EQ(param(got, "A"), "1");
  EXPECT_EQ(param(other, "B"), "2");
  IncomingRequest moved = std::move(got);
  IncomingRequest copied = moved;
  got = std::move(copied);
  EXPECT_EQ(param(moved, "A"), "1");
  EXPECT_EQ(param(got, "A"), "1");
  for (const IncomingRequest* request : {&moved, &got, &other})
    for (const char* const* entry = request->envp.data(); *entry; ++entry) {
      EXPECT_GE(*entry, request->params.data());
      EXPECT_LT(*entry, request->params.data() + request->params.size());
    }
}

}  // namespace
}  // namespace cppapi::fastcgi
