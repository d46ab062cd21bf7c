# The front door. A newcomer runs `make demo` or `make check`; both install
# missing Debian packages first (as root; otherwise they print the command).
# The real build is CMake's, in build/ (and build-asan/ for sanitizers).

BUILD_DIR ?= build
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
JOBS ?= $(shell nproc)

# rustup's cargo lives in ~/.cargo/bin, which a non-login shell may miss.
ifneq ($(wildcard $(HOME)/.cargo/bin/cargo),)
export PATH := $(HOME)/.cargo/bin:$(PATH)
endif

# Builds and tests must not join a jobserver of whatever ran this Makefile
# (`make -j4 check` would otherwise hand its pool to every test).
CLEAN_ENV := env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u CARGO_MAKEFLAGS

.PHONY: all deps build check soak check-sanitize check-tsan format format-check demo bench fuzz clean

all: build

deps:
	@bash scripts/install-deps.sh
	@bash scripts/fetch-newer-cmake.sh .tools
	@bash scripts/fetch-newer-ninja.sh .tools

build: deps
	$(CLEAN_ENV) cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	$(CLEAN_ENV) cmake --build $(BUILD_DIR) -j $(JOBS)

check: format-check build
	cd $(BUILD_DIR) && $(CLEAN_ENV) ctest --output-on-failure -j $(JOBS)

# The soak at full size (tests/faults/soak_test.sh; `check` runs a short one,
# faults.soak): SOAK_RUNS runs of hostile agents under -j4, the runner
# SIGKILLed at SOAK_KILLS random moments and resumed; prints the figures.
SOAK_RUNS ?= 200
SOAK_KILLS ?= 10
soak: build
	$(CLEAN_ENV) SOAK_RUNS=$(SOAK_RUNS) SOAK_KILLS=$(SOAK_KILLS) \
	  TIERUN=$(abspath $(BUILD_DIR))/src/tierun \
	  PROBE=$(abspath $(BUILD_DIR))/tests/tools/tierun-probe \
	  VERIFY=$(abspath $(BUILD_DIR))/tests/tools/tierun-verify-log \
	  bash tests/faults/soak_test.sh

check-sanitize: deps
	$(CLEAN_ENV) cmake -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DTIERUN_SANITIZE=ON \
	  -DTIERUN_BUILD_BENCH=OFF
	$(CLEAN_ENV) cmake --build $(ASAN_DIR) -j $(JOBS)
	cd $(ASAN_DIR) && $(CLEAN_ENV) ctest --output-on-failure -j $(JOBS)

# ThreadSanitizer (the launcher thread, the scheduler): Debug keeps the
# asserts, -O1 keeps the slowed-down suite within a few minutes. A report
# fails its test at once.
check-tsan: deps
	$(CLEAN_ENV) cmake -S . -B $(TSAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DTIERUN_TSAN=ON \
	  -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" -DTIERUN_BUILD_BENCH=OFF
	$(CLEAN_ENV) cmake --build $(TSAN_DIR) -j $(JOBS)
	cd $(TSAN_DIR) && $(CLEAN_ENV) TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  ctest --output-on-failure -j $(JOBS)

SOURCES = $(shell git ls-files '*.h' '*.cc' 2>/dev/null)

format:
	$(if $(SOURCES),clang-format -i $(SOURCES))

# Outside a git checkout there is no file list: nothing to check.
format-check: deps
	$(if $(SOURCES),clang-format --dry-run -Werror $(SOURCES),@echo "format-check: not a git checkout, skipped")

demo: build
	$(CLEAN_ENV) bash examples/demo.sh $(BUILD_DIR)

# Release, in a build directory of its own; the probe and the log verifier
# come along for the comparison's concurrency workload (W3).
BENCH_DIR ?= build-bench
bench: deps
	$(CLEAN_ENV) cmake -S . -B $(BENCH_DIR) -DCMAKE_BUILD_TYPE=Release
	$(CLEAN_ENV) cmake --build $(BENCH_DIR) -j $(JOBS) --target tierun tierun-spawn-ref \
	  tierun-probe tierun-verify-log jobserver_bench runner_bench
	$(CLEAN_ENV) bash bench/run.sh $(BENCH_DIR)

# libFuzzer on the parsers (fuzz/): clang, ASan and UBSan, FUZZ_SECONDS per
# target on a copy of fuzz/corpus/ under FUZZ_DIR; fails on any crash.
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz: deps
	$(CLEAN_ENV) cmake -S fuzz -B $(FUZZ_DIR) -DCMAKE_CXX_COMPILER=clang++-14
	$(CLEAN_ENV) cmake --build $(FUZZ_DIR) -j $(JOBS)
	$(CLEAN_ENV) bash fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR) $(FUZZ_DIR) $(BENCH_DIR)
