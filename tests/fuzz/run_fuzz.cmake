# SPDX-License-Identifier: MIT
# Runs one libFuzzer target for a bounded time on a copy of its seed corpus:
#   cmake -DFUZZER=exe -DSEEDS=dir -DWORK=dir [-DDICT=file] [-DSECONDS=20] -P run_fuzz.cmake
# CPPAPI_FUZZ_SECONDS in the environment overrides SECONDS. New inputs stay in
# WORK/corpus (kept between runs, so coverage grows); a crash or a broken invariant
# leaves the input in WORK/artifacts/ and fails the test.
if(DEFINED ENV{CPPAPI_FUZZ_SECONDS})
  set(SECONDS "$ENV{CPPAPI_FUZZ_SECONDS}")
endif()
if(NOT SECONDS)
  set(SECONDS 20)
endif()

file(MAKE_DIRECTORY "${WORK}/corpus" "${WORK}/artifacts")
file(GLOB seeds "${SEEDS}/*")
file(COPY ${seeds} DESTINATION "${WORK}/corpus")

set(options -max_total_time=${SECONDS} -timeout=5 -rss_limit_mb=2048 -print_final_stats=1
            -artifact_prefix=${WORK}/artifacts/)
if(DICT)
  list(APPEND options -dict=${DICT})
endif()
list(JOIN options " " shown)
message(STATUS "${FUZZER} ${shown} ${WORK}/corpus")
execute_process(COMMAND "${FUZZER}" ${options} "${WORK}/corpus" RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  file(GLOB artifacts "${WORK}/artifacts/*")
  message(FATAL_ERROR "${FUZZER} failed (${result}); reproduce with: ${FUZZER} ${artifacts}")
endif()
