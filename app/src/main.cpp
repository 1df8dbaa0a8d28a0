// SPDX-License-Identifier: MIT
#include <exception>
#include <iostream>

#include <spdlog/spdlog.h>

#include "command_line.hpp"
#include "dispatch/registry.hpp"

int main(int argc, char** argv) {
  int status;
  try {
    const cppapi::Registry registry(cppapi::generated_call_table());
    status = cppapi::run_command_line(argc, argv, registry);
  } catch (const std::exception& error) {
    std::cerr << "cppapi: " << error.what() << '\n';
    status = 1;
  }
  spdlog::shutdown();
  return status;
}
