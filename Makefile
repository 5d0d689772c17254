# Thin wrapper around CMake + CTest. `make run` and `make test` do everything
# on a fresh Debian 12 machine (as root).
BUILD      ?= build
BUILD_SAN  ?= build-sanitize
BUILD_O0   ?= build-O0
STATE_DIR  ?= /var/lib/hoody
LISTEN     ?= 127.0.0.1:8080
PROXY_LISTEN ?= 127.0.0.1:8081
SSH_LISTEN ?= 127.0.0.1:2222
JOBS       ?= $(shell nproc)

.PHONY: all deps build run test test-cgroup2 test-O0 test-sanitize test-sanitize-unit bench fuzz images clean format format-check lint

all: build

deps:
	@scripts/setup.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Builds the images users need most, then runs hoodyd in the foreground with
# the hostname proxy on loopback (docs/PROXY.md).
run: build
	@install -m 0755 $(BUILD)/bin/hoody /usr/local/bin/hoody
	@$(BUILD)/bin/hoodyd --state-dir $(STATE_DIR) images ensure busybox debian/13
	@exec $(BUILD)/bin/hoodyd --listen $(LISTEN) --proxy-listen $(PROXY_LISTEN) --state-dir $(STATE_DIR) \
	  --ssh-listen $(SSH_LISTEN)

# The gates, then three passes of tests (docs/SECURITY.md, "Test passes"):
# the release build's unit tests and fuzz replays; the same unit tests and
# replays built at -O0 without sanitizers (what found the open_memstream bug:
# optimised and sanitized builds survived it by luck); then the whole suite
# (unit, integration, end to end) built with ASan + UBSan. One whole pass is
# what fits CI's 15 minutes; `make bench` drives the release build end to
# end. TEST_GATES are the static checks run first: cppcheck, and a tree that
# `make format` would not change.
TEST_GATES = lint format-check

test: build
	@$(MAKE) --no-print-directory $(TEST_GATES)
	@cd $(BUILD) && ctest --output-on-failure -j 2 -L unit
	@$(MAKE) --no-print-directory test-O0
	@$(MAKE) --no-print-directory test-sanitize

# cgroup v2 on a real kernel, in a qemu VM (scripts/vm-cgroup2.sh). Not part
# of `make test`: under software emulation the boot and the checks take many
# minutes, and this host's own cgroups are v1.
test-cgroup2: build
	@scripts/setup.sh --vm
	@BUILD=$(abspath $(BUILD)) scripts/vm-cgroup2.sh

test-O0: deps
	@cmake -S . -B $(BUILD_O0) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O0" >/dev/null
	@cmake --build $(BUILD_O0) -j $(JOBS)
	@cd $(BUILD_O0) && ctest --output-on-failure -j 2 -L unit

test-sanitize: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DHOODY_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_SAN) -j $(JOBS)
	@cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2

# libFuzzer targets (clang), each for FUZZ_SECONDS (default 60) on its corpus.
FUZZ_SECONDS ?= 60
fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DHOODY_FUZZ=ON >/dev/null
	@cmake --build build-fuzz -j $(JOBS) --target fuzz_router fuzz_bodies fuzz_names fuzz_claims fuzz_websocket
	@tests/fuzz/run.sh build-fuzz $(FUZZ_SECONDS)

# The fast subset of the sanitizer suite: unit tests and the fuzz corpus
# replay, for a quick check while working.
test-sanitize-unit: deps
	@cmake -S . -B $(BUILD_SAN) -DCMAKE_BUILD_TYPE=Debug -DHOODY_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_SAN) -j $(JOBS)
	@cd $(BUILD_SAN) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j 2 -L unit

bench: build
	@bench/run.sh

clean:
	rm -rf $(BUILD) $(BUILD_SAN) $(BUILD_O0)

# The tree against .clang-format: `make format` rewrites it, `make
# format-check` fails on any file that `make format` would change.
FORMAT_FILES = $$(git ls-files '*.c' '*.h')
format:
	@clang-format -i $(FORMAT_FILES)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_FILES)

# Static analysis (cppcheck) of the whole tree: any finding fails. A false
# positive is suppressed on its own line, with the reason (scripts/lint.sh).
lint: deps
	@scripts/lint.sh
