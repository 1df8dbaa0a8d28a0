# SPDX-License-Identifier: MIT
# The two commands of the README: `make run` (the demo) and `make test` (everything).
BUILD_DIR      ?= build
TEST_BUILD_DIR ?= build/test
PORT           ?= 8080
CMAKE_FLAGS    ?= -G Ninja

.PHONY: all deps build run test unit clean

all: build

deps:
	deploy/install-deps.sh

build: deps
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)
	cmake --build $(BUILD_DIR)

run: build
	deploy/run-local.sh --port $(PORT) --cppapi $(BUILD_DIR)/cppapi

# The test build also registers the test-only calls in tests/calls/.
test: deps
	cmake -S . -B $(TEST_BUILD_DIR) $(CMAKE_FLAGS) -DCPPAPI_TEST_CALLS=ON
	cmake --build $(TEST_BUILD_DIR)
	ctest --test-dir $(TEST_BUILD_DIR) --output-on-failure --timeout 600

clean:
	rm -rf $(BUILD_DIR) $(TEST_BUILD_DIR)
