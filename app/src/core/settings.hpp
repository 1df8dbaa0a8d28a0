// SPDX-License-Identifier: MIT
#pragma once
#include <string>
#include <vector>

#include "core/limits.hpp"

namespace cppapi {

/// Who speaks FastCGI: cppAPI's own epoll engine, or libfcgi's FCGX_Accept_r (docs/engine.md).
enum class Engine { kEvent, kLibfcgi };

/// Everything a run can be told, from flags or a config file (same names).
struct Settings {
  std::string listen;  ///< "unix:/run/cppapi/cppapi.sock" or "127.0.0.1:9000"
  int processes = 0;   ///< workers under a master; 0: serve in this process
  int threads = 4;     ///< accepting threads per process
  Engine engine = Engine::kEvent;
  int backlog = 1024;  ///< listen queue length
  std::string prefix = "/api/";
  std::string socket_mode = "0660";
  std::string socket_owner;               ///< unix socket owner (user name or uid); empty: unchanged
  std::string socket_group;               ///< unix socket group (group name or gid); empty: unchanged
  std::vector<std::string> allow_from;    ///< TCP peers allowed to connect; empty: FCGI_WEB_SERVER_ADDRS, else all
  std::string user;                       ///< started as root: drop to this user ("root" keeps root)
  std::string group;                      ///< with user: this group instead of the user's own
  std::vector<std::string> cors_origins;  ///< empty: same origin only
  bool cross_site_guard = true;           ///< 403 for calls from other sites (Sec-Fetch-Site, Origin)
  std::string log_file;                   ///< empty: stderr
  bool access_log = true;
  int shutdown_timeout_ms = 30000;  ///< how long a stop waits for requests in flight
  int start_timeout_ms = 10000;     ///< how long a reload or an upgrade waits for its new workers to accept
  long max_requests = 0;            ///< a worker retires after this many; 0: never
  int read_timeout_ms = 30000;      ///< a connection stalled inside a request is closed
  int idle_timeout_ms = 300000;     ///< a kept connection idle this long is closed
  int write_timeout_ms = 30000;     ///< a reply that makes no progress this long: its connection is closed
  int max_connections = 1024;       ///< open FastCGI connections per process; beyond, accepting waits
  int request_timeout_ms = 0;       ///< a handler running longer gets a 504; 0: no limit
  bool debug = false;               ///< exception text in 500 replies (never in production)
  std::string status_listen;        ///< ping/status/metrics listener served by the master; empty: none
  int slowlog_threshold_ms = 0;     ///< a request running longer is logged with its stack; 0: off
  bool openapi = true;              ///< serve <prefix>openapi.json and <prefix>calls.js
  Limits limits;
};

}  // namespace cppapi
