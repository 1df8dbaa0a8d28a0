# SPDX-License-Identifier: MIT
# The two commands of the README: `make run` (the demo) and `make test` (everything).
BUILD_DIR      ?= build
TEST_BUILD_DIR ?= build/test
DEV_BUILD_DIR  ?= build/dev
PORT           ?= 8080
CMAKE_FLAGS    ?= -G Ninja

.PHONY: all deps build run dev test check clean package package-test

all: build

deps:
	deploy/install-deps.sh

build: deps
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR)

run: build
	deploy/run-local.sh --port $(PORT) --cppapi $(BUILD_DIR)/cppapi

# The demo with a master, rebuilt and upgraded in place (SIGUSR2) on every save in calls/, app/, www/.
dev: deps
	BUILD_DIR=$(DEV_BUILD_DIR) PORT=$(PORT) deploy/dev.sh

# Everything: the suites in a normal build, then again under ASan+UBSan and TSan,
# then each fuzz target for a short while. `make check` is the first part alone.
test: format-check check
	$(MAKE) --no-print-directory asan tsan fuzz package-test

# The test build also registers the test-only calls in tests/calls/. tests/run_ctest.sh is
# ctest plus the no-skip rule: a skipped test, or a GoogleTest run of 0 tests, fails.
check: deps
	cmake -S . -B $(TEST_BUILD_DIR) $(CMAKE_FLAGS) -DCPPAPI_TEST_CALLS=ON
	cmake --build $(TEST_BUILD_DIR)
	tests/run_ctest.sh --test-dir $(TEST_BUILD_DIR) --output-on-failure --timeout 600 -j 2

# A Debian package of this application (build/package/cppapi_<version>_<arch>.deb):
# a Release build without test calls, laid out as deploy/ expects.
package: deps
	cmake -S . -B build/package $(CMAKE_FLAGS) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCPPAPI_BUILD_TESTS=OFF -DCPPAPI_TEST_CALLS=OFF
	cmake --build build/package
	cd build/package && cpack -G DEB

# The package installed for real (root), checked, serving through nginx, then purged.
package-test: package
	tests/package/package_test.sh $$(ls -t build/package/cppapi_*.deb | head -n 1)

clean:
	rm -rf $(BUILD_DIR) $(TEST_BUILD_DIR) build/package build/asan build/tsan build/fuzz

# Sanitizer and fuzz builds from CMakePresets.json, each in build/<preset>.
# `make fuzz` runs every libFuzzer target for 20 s; `make fuzz-long FUZZ_SECONDS=600`
# runs each for FUZZ_SECONDS (default 600). New corpus entries stay in the build tree;
# a crash fails the run and leaves its input in build/fuzz/tests/fuzz/<concept>/artifacts/.
FUZZ_SECONDS ?= 600
FUZZ_JOBS    ?= 2

.PHONY: fuzz fuzz-long asan tsan

fuzz: deps
	cmake --preset fuzz
	cmake --build --preset fuzz
	ctest --preset fuzz -j $(FUZZ_JOBS)

fuzz-long: deps
	cmake --preset fuzz
	cmake --build --preset fuzz
	CPPAPI_FUZZ_SECONDS=$(FUZZ_SECONDS) ctest --preset fuzz -j $(FUZZ_JOBS) --timeout $$(( $(FUZZ_SECONDS) + 300 ))

# Unit and integration tests under ASan+UBSan (gcc), and under TSan (clang).
asan: deps
	cmake --preset asan
	cmake --build --preset asan
	tests/run_ctest.sh --preset asan -j 2

tsan: deps
	cmake --preset tsan
	cmake --build --preset tsan
	tests/run_ctest.sh --preset tsan -j 2

# Formatting: `make format` rewrites every C/C++ file under the repo's .clang-format;
# `make format-check` (run by `make test`) fails on the first file it would change.
FORMAT_FILES = $(shell git ls-files '*.cpp' '*.hpp' '*.c')
.PHONY: format format-check

format:
	clang-format -i $(FORMAT_FILES)

format-check: deps
	clang-format --dry-run --Werror $(FORMAT_FILES)
