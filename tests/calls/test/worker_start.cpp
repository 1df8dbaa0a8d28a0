// SPDX-License-Identifier: MIT
// Test-only: how this build's workers start, from the 8 characters after the mark, which
// tests/integration/upgrade_test.cpp rewrites in a copy of the binary (as for test/version):
//   normal__  at once;
//   crash___  abort() at start, in every worker (the upgrade trial's one included);
//   crashrun  abort() at start, except in an upgrade trial (so the failure comes after exec);
//   slowNNNN  wait NNNN ms before serving, except in an upgrade trial.
// The worker calls cppapi_test_worker_starting() (process/worker.cpp) before anything else.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "cppapi/call.hpp"

// Not const: the compiler must read it at run time, not fold it into the code.
char cppapi_test_worker_start_mark[] = "CPPAPI_TEST_WORKER_START:normal__";

namespace {

std::string_view worker_start_mode() { return {cppapi_test_worker_start_mark + 25, 8}; }

bool in_upgrade_trial() {
  const char* trial = std::getenv("CPPAPI_UPGRADE_TRIAL");
  return trial && std::string_view(trial) == "1";
}

}  // namespace

extern "C" void cppapi_test_worker_starting() {
  const std::string_view mode = worker_start_mode();
  if (mode == "crash___" || (mode == "crashrun" && !in_upgrade_trial())) {
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);  // a crash on purpose leaves no core file behind
    std::abort();
  }
  if (mode.substr(0, 4) == "slow" && !in_upgrade_trial())
    ::usleep(static_cast<useconds_t>(std::atoi(std::string(mode.substr(4)).c_str())) * 1000);
}

/// How this build's workers start (the mark's mode).
CALL()->std::string { return std::string(worker_start_mode()); }
