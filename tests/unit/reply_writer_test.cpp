// SPDX-License-Identifier: MIT
#include <gtest/gtest.h>

#include "dispatch/reply_writer.hpp"

namespace cppapi {
namespace {

TEST(ReplyWriter, HeadIsExactBytes) {
  EXPECT_EQ(render_head(Reply::text("5")),
            "Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 1\r\n\r\n");
}

TEST(ReplyWriter, LengthCountsBytesNotCharacters) {
  const Reply reply = Reply::text(
      "Gr\xC3\xBC\xC3\x9F"
      "e \xE2\x9C\x93");  // "Grüße ✓": 7 characters, 11 bytes
  EXPECT_NE(render_head(reply).find("Content-Length: 11\r\n"), std::string::npos);
}

TEST(ReplyWriter, BinaryAndEmptyBodies) {
  const Reply binary = Reply::bytes(std::string("\0\r\n\xff", 4));
  EXPECT_NE(render_head(binary).find("Content-Length: 4\r\n"), std::string::npos);
  EXPECT_NE(render_head(binary).find("Content-Type: application/octet-stream\r\n"), std::string::npos);
  EXPECT_NE(render_head(Reply::text("")).find("Content-Length: 0\r\n"), std::string::npos);
  EXPECT_NE(render_head(Reply::text(std::string(1 << 20, 'x'))).find("Content-Length: 1048576\r\n"), std::string::npos);
}

TEST(ReplyWriter, HandlerHeadersFollowInOrder) {
  Reply reply = Reply::json("{}", 201);
  reply.header("X-A", "1").header("Cache-Control", "no-store");
  EXPECT_EQ(render_head(reply),
            "Status: 201 Created\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            "X-A: 1\r\nCache-Control: no-store\r\n\r\n");
}

TEST(ReplyWriter, NoContentHasNoLengthAndNoBody) {
  const Reply reply{204, "text/plain; charset=utf-8", {}, ""};
  EXPECT_EQ(render_head(reply).find("Content-Length"), std::string::npos);
  EXPECT_FALSE(sends_body(reply, "GET"));
}

TEST(ReplyWriter, HeadDropsTheBodyOnly) {
  const Reply reply = Reply::text("hello");
  EXPECT_TRUE(sends_body(reply, "GET"));
  EXPECT_TRUE(sends_body(reply, "POST"));
  EXPECT_FALSE(sends_body(reply, "HEAD"));
  EXPECT_NE(render_head(reply).find("Content-Length: 5\r\n"), std::string::npos);
}

TEST(ReplyWriter, RefusesHeaderInjection) {
  EXPECT_EQ(reply_problem(Reply::text("ok")), std::nullopt);
  EXPECT_NE(reply_problem(Reply::text("x").header("X-A", "a\r\nSet-Cookie: evil=1")), std::nullopt);
  EXPECT_NE(reply_problem(Reply::text("x").header("X-A", "a\nb")), std::nullopt);
  EXPECT_NE(reply_problem(Reply::text("x").header("X-A", std::string("a\0b", 3))), std::nullopt);
  EXPECT_NE(reply_problem(Reply::text("x").header("X-A\r\nB", "v")), std::nullopt);
  EXPECT_NE(reply_problem(Reply::text("x").header("", "v")), std::nullopt);
  EXPECT_NE(reply_problem(Reply::text("x").header("Bad Name", "v")), std::nullopt);
  EXPECT_NE(reply_problem(Reply{200, "text/html\r\nX: y", {}, ""}), std::nullopt);
  EXPECT_EQ(reply_problem(Reply::text("x").header("X-Tab", "a\tb")), std::nullopt);
}

TEST(ReplyWriter, RefusesHeadersTheFrameworkOwns) {
  EXPECT_NE(reply_problem(Reply::text("x").header("Content-Length", "99")), std::nullopt);
  EXPECT_NE(reply_problem(Reply::text("x").header("content-type", "text/html")), std::nullopt);
  EXPECT_NE(reply_problem(Reply::text("x").header("Status", "200")), std::nullopt);
}

TEST(ReplyWriter, RefusesImpossibleStatus) {
  EXPECT_NE(reply_problem(Reply::text("x", 99)), std::nullopt);
  EXPECT_NE(reply_problem(Reply::text("x", 101)), std::nullopt);
  EXPECT_NE(reply_problem(Reply::text("x", 600)), std::nullopt);
  EXPECT_EQ(reply_problem(Reply::text("x", 599)), std::nullopt);
  EXPECT_EQ(reason_phrase(599), "Unknown");
  EXPECT_EQ(reason_phrase(413), "Content Too Large");
}

}  // namespace
}  // namespace cppapi
