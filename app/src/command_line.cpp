// SPDX-License-Identifier: MIT
#include "command_line.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cgi/responder.hpp"
#include "core/build_info.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "dispatch/call_description.hpp"
#include "dispatch/dispatcher.hpp"
#include "dispatch/js_proxies.hpp"
#include "dispatch/openapi.hpp"
#include "dispatch/reply_writer.hpp"
#include "dispatch/request_access.hpp"
#include "fastcgi/peer_allow_list.hpp"
#include "process/fd_hygiene.hpp"
#include "process/listen_socket.hpp"
#include "process/master.hpp"
#include "process/privileges.hpp"
#include "process/serve_checks.hpp"
#include "process/signals.hpp"
#include "process/startup_mode.hpp"
#include "process/upgrade.hpp"
#include "process/upgrade_trial.hpp"
#include "process/worker.hpp"

namespace cppapi {
namespace {

constexpr int kUsageError = 2;
constexpr int kSocketActivatedProcesses = 2;  // when neither CPPAPI_PROCESSES nor the config file says

using Flags = SettingFlags;

/// Serves on an open listener until SIGTERM/SIGINT: a master with settings.processes
/// workers, or this process alone when processes is 0. `stop_listening` closes the
/// listener (and removes a socket file this process made) when a stop begins.
struct ServePlan {
  Settings settings;
  WorkerIdentity identity;
  int listen_fd = -1;
  ListenSocket* opened = nullptr;
  std::function<void()> stop_listening;
  std::function<Settings()> reload;  ///< for a master: the settings a SIGHUP switches to
  UpgradeListener upgrade;           ///< for a master: the listener a SIGUSR2 hands to the new binary
};

int serve_on(ServePlan plan, const Registry& registry, std::string_view how) {
  const Settings& settings = plan.settings;
  if (upgrade_trial())  // started by a master's SIGUSR2 to try this binary: all went well up to here
    return settings.processes > 0 ? run_trial_worker(settings, registry, plan.identity, plan.listen_fd) : 0;
  const PeerAllowList peers = PeerAllowList::from(settings.allow_from, std::getenv("FCGI_WEB_SERVER_ADDRS"));
  if (!peers.allows_all()) spdlog::info("cppapi: TCP connections accepted from {} only", peers.describe());
  const std::string shape = settings.processes > 0
                                ? fmt::format("{} x {} (processes x threads)", settings.processes, settings.threads)
                                : fmt::format("{} threads", settings.threads);
  spdlog::info("cppapi: serving {} calls under {} with {}; mode: {}; engine: {}", registry.all().size(),
               settings.prefix, shape, how, settings.engine == Engine::kLibfcgi ? "libfcgi" : "event");
  if (settings.engine == Engine::kLibfcgi)
    spdlog::info(
        "cppapi: engine libfcgi closes every connection after its reply (keep-alive from the web server is "
        "refused) and a connection holds a thread until its reply is sent; see docs/engine.md");
  if (settings.processes > 0)
    return run_master(registry,
                      MasterSetup{settings, plan.identity, plan.listen_fd, plan.opened, plan.reload, plan.upgrade});
  if (!settings.status_listen.empty())
    spdlog::warn("cppapi: status_listen is served by a master: give --processes N (ignored here)");
  if (plan.identity.account) drop_privileges(*plan.identity.account, plan.identity.gid);  // spawned as root
  return run_worker(settings, registry, plan.listen_fd, WorkerLinks{-1, plan.stop_listening});
}

/// Started as root with --user: a root master keeps the socket, the log file and reloads,
/// so a lone process becomes a master with one worker (which drops to the user).
Settings with_root_master(Settings settings, const WorkerIdentity& identity) {
  if (identity.account && settings.processes == 0) settings.processes = 1;
  return settings;
}

void log_identity(const WorkerIdentity& identity) {
  if (identity.account)
    spdlog::info(
        "cppapi: workers run as user {} (uid {}, gid {}); the master keeps root for the socket, the log file and "
        "reloads, and serves nothing",
        identity.account->name, identity.account->uid, identity.gid);
  else if (::geteuid() == 0)
    spdlog::warn("cppapi: running as root (--user root): a bug in any call runs with every privilege");
}

/// The listener: the one a master's SIGUSR2 handed over (the previous binary in this
/// process, or its trial), else a new one.
ListenSocket open_or_inherit(const Settings& settings, uid_t socket_owner, gid_t socket_group) {
  if (const std::optional<UpgradeListener> inherited = take_inherited_listener()) {
    if (inherited->spec != settings.listen)
      spdlog::warn("cppapi: listen {} ignored: an upgrade keeps the listener {} (restart to change it)",
                   settings.listen, inherited->spec);
    // A trial must never remove the socket file the running master serves on.
    return ListenSocket::adopt(inherited->fd, inherited->spec, !upgrade_trial());
  }
  return ListenSocket::open(settings.listen, settings.backlog, settings.socket_mode, socket_owner, socket_group);
}

int serve(const std::string& config_path, const Flags& flags, const Registry& registry, bool check_only) {
  const auto load = [config_path, flags] { return load_settings(config_path, flags); };
  const Settings loaded = load();
  // Everything that can be refused is refused before the socket exists.
  const WorkerIdentity identity = check_serve_settings(loaded, true);
  if (check_only) {
    std::cout << "cppapi: settings ok\n";
    return 0;
  }
  const Settings settings = with_root_master(loaded, identity);
  uid_t socket_owner = settings.socket_owner.empty() ? static_cast<uid_t>(-1) : find_user(settings.socket_owner).uid;
  const gid_t socket_group = settings.socket_group.empty() ? static_cast<gid_t>(-1) : find_group(settings.socket_group);
  if (identity.account && settings.socket_owner.empty()) socket_owner = identity.account->uid;

  take_over_signals();
  setup_logging(settings.log_file, settings.access_log, log_owner_for(identity));
  ListenSocket socket = open_or_inherit(settings, socket_owner, socket_group);
  if (!upgrade_trial()) log_identity(identity);
  const std::string how =
      fmt::format("{}, listening on {}", loaded.processes > 0 ? "own pool" : "own process", socket.spec());
  ServePlan plan{settings,
                 identity,
                 socket.fd(),
                 &socket,
                 [&socket] { socket.close_and_remove(); },
                 [load, identity] { return with_root_master(load(), identity); },
                 UpgradeListener{socket.fd(), socket.spec(), false}};
  const int status = serve_on(std::move(plan), registry, how);
  socket.close_and_remove();
  return status;
}

int list_calls(const Registry& registry) {
  for (const detail::CallRecord* record : registry.all()) fmt::print("{}({})\n", record->name, record->parameters);
  return 0;
}

/// Runs one call in this process, as a server would, and prints the reply.
int call_locally(const Settings& settings, const Registry& registry, const std::string& call, const std::string& method,
                 const std::optional<std::string>& body) {
  std::vector<std::string> environment = {
      "REQUEST_METHOD=" + method, "REQUEST_URI=" + settings.prefix + call, "GATEWAY_INTERFACE=CGI/1.1",
      "CONTENT_LENGTH=" + std::to_string(body ? body->size() : 0), "REMOTE_ADDR=local"};
  std::vector<const char*> envp;
  for (const std::string& entry : environment) envp.push_back(entry.c_str());
  envp.push_back(nullptr);
  const Dispatcher dispatcher(registry, settings);
  const std::string body_bytes = body.value_or("");
  Request request = detail::RequestAccess::make(envp.data(), body_bytes);
  const Reply reply = dispatcher.handle(request);
  std::cout << render_head(reply);
  if (sends_body(reply, method)) std::cout << reply.body;
  if (!reply.body.empty() && reply.body.back() != '\n' && sends_body(reply, method)) std::cout << '\n';
  return reply.status < 400 ? 0 : 1;
}

int run_detected_mode(const Registry& registry, const CLI::App& app) {
  const StartupMode mode = detect_startup_mode();
  if (mode == StartupMode::kNone) {
    std::cerr << app.help();
    return kUsageError;
  }
  // systemd restarts the service, not a worker that died: socket-activated runs a master.
  const auto load = [mode] {
    Settings loaded = load_settings("", {});
    if (mode == StartupMode::kSocketActivated && loaded.processes == 0) loaded.processes = kSocketActivatedProcesses;
    if (mode == StartupMode::kSpawned) loaded.processes = 0;  // the spawner manages processes
    return loaded;
  };
  const Settings settings = load();
  if (mode == StartupMode::kCgi) {
    setup_logging(settings.log_file, settings.access_log && !settings.log_file.empty());
    const Dispatcher dispatcher(registry, settings);
    return run_cgi(dispatcher);
  }
  const WorkerIdentity identity = check_serve_settings(settings, false);  // as a reload will
  take_over_signals();
  setup_logging(settings.log_file, settings.access_log, log_owner_for(identity));
  if (::geteuid() == 0 && !identity.account)
    spdlog::warn("cppapi: running as root under {}; have the supervisor start it as an ordinary user", describe(mode));
  // Threads woken together by poll() must not block in accept(): a blocked one would
  // never see a stop. The flag is shared with whoever passed the socket; they do not accept on it.
  const int listen_fd = adopt_inherited_listener(inherited_listen_fd(mode));
  ::fcntl(listen_fd, F_SETFL, ::fcntl(listen_fd, F_GETFL) | O_NONBLOCK);
  if (identity.account) log_identity(identity);
  // Close only our descriptor: the socket stays the supervisor's, usable by the next process.
  // SIGUSR2 (a master): systemd's socket goes on to the new binary as LISTEN_FDS again.
  const UpgradeListener upgrade{mode == StartupMode::kSocketActivated ? listen_fd : -1, "", true};
  ServePlan plan{settings, identity, listen_fd, nullptr, [listen_fd] { ::close(listen_fd); }, load, upgrade};
  return serve_on(std::move(plan), registry, describe(mode));
}

}  // namespace

int run_command_line(int argc, char** argv, const Registry& registry) {
  CLI::App app{
      "cppapi: call C++ functions from a web page, over FastCGI.\n"
      "Run with no arguments under spawn-fcgi, mod_fcgid, lighttpd, systemd or CGI and it serves as started."};
  app.require_subcommand(0, 1);
  remember_invocation(argc, argv);  // what a SIGUSR2 runs again
  app.set_version_flag("--version", fmt::format("cppapi {} (build {})", project_version(), build_id()),
                       "print the version and the build id (git commit, +dirty) and exit");
  std::string config_path;
  Flags flags;

  CLI::App* serve_command = app.add_subcommand("serve", "serve FastCGI requests on --listen until SIGTERM");
  serve_command->add_option("--config", config_path, "TOML file with the same keys as the flags (listen = \"...\")");
  bool check_only = false;
  serve_command->add_flag("--check", check_only,
                          "load and check the settings (as a start and a reload do), then exit 0 or 1 without binding");
  for (const SettingKey& key : setting_keys()) {
    auto* option = serve_command->add_option(flag_name(key.name), flags[key.name], key.help);
    if (!key.repeatable) option->expected(1);
  }

  CLI::App* calls_command = app.add_subcommand("calls", "list every call with its parameters");
  bool calls_json_output = false;
  calls_command->add_flag("--json", calls_json_output,
                          "describe every call as JSON: parameters and their types, body, return, errors");
  CLI::App* openapi_command = app.add_subcommand("openapi", "print the OpenAPI 3.1 document of every call");
  std::string openapi_prefix;
  openapi_command->add_option("--config", config_path, "TOML config file (for its prefix)");
  openapi_command->add_option("--prefix", openapi_prefix, "the URI prefix the server URL is made of, e.g. /api/");
  CLI::App* types_command =
      app.add_subcommand("types", "print TypeScript declarations of the page's `calls` (cppapi types > calls.d.ts)");
  std::string call_text, method = "GET";
  std::optional<std::string> body;
  CLI::App* call_command = app.add_subcommand("call", "run one call here, without a server, and print the reply");
  call_command->add_option("call", call_text, "the call as in the URL after the prefix, e.g. 'add&2&3'")->required();
  call_command->add_option("--method", method, "GET, HEAD, POST, ...");
  call_command->add_option("--body", body, "request body (implies POST)");
  call_command->add_option("--config", config_path, "TOML config file");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  // Only flags given on the command line count: CLI11 left the others empty.
  for (auto it = flags.begin(); it != flags.end();) it = it->second.empty() ? flags.erase(it) : std::next(it);

  try {
    if (*serve_command) return serve(config_path, flags, registry, check_only);
    if (*calls_command) {
      if (!calls_json_output) return list_calls(registry);
      std::cout << calls_json(registry);
      return 0;
    }
    if (*openapi_command) {
      Flags prefix_flag;
      if (!openapi_prefix.empty()) prefix_flag["prefix"] = {openapi_prefix};
      std::cout << openapi_document(registry, load_settings(config_path, prefix_flag).prefix);
      return 0;
    }
    if (*types_command) {
      std::cout << typescript_declarations(registry);
      return 0;
    }
    if (*call_command) {
      if (body && method == "GET") method = "POST";
      return call_locally(load_settings(config_path, {}), registry, call_text, method, body);
    }
    return run_detected_mode(registry, app);
  } catch (const std::exception& error) {
    std::cerr << "cppapi: " << error.what() << '\n';
    return 1;
  }
}

}  // namespace cppapi
