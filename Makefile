# Quantum Forge — a thin front to CMake and the scripts.
#   make          build everything into build/ (the program: build/qforge) and the web app into web/dist
#   make run      install what is missing, build, start qforge serve at http://127.0.0.1:8080
#   make test     install what is missing, build with sanitizers, run the whole suite
#   make bench    run the benchmarks against their peers
#   make fuzz FUZZ=NAME [SECONDS=600]   fuzz one target with libFuzzer (clang)

BUILD      ?= build
TEST_BUILD ?= build-test
JOBS       ?= 2
CTEST_ARGS ?=

.PHONY: all deps configure run test bench fuzz clean

all: configure
	cmake --build $(BUILD) -j$(JOBS)
	scripts/build-web

configure:
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

deps:
	scripts/install-deps

# The server on embedded SQLite (var/qforge.db) with its workers at
# http://127.0.0.1:8080; Ctrl-C stops it (drained). The example batch of the
# command line alone: scripts/run-example.
run: deps
	$(MAKE) all
	mkdir -p var
	$(BUILD)/qforge serve --port 8080 --bind 127.0.0.1 --store sqlite:var/qforge.db

test: deps
	@test -f $(TEST_BUILD)/CMakeCache.txt || cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQF_SANITIZE=ON
	cmake --build $(TEST_BUILD) -j$(JOBS)
	scripts/build-web
	scripts/run-tests $(TEST_BUILD) $(CTEST_ARGS)

bench: deps
	$(MAKE) all
	bench/run-overhead
	bench/store-insert
	@if [ -x bench/batch-throughput ]; then bench/batch-throughput; fi
	bench/slurm-overhead
	node bench/web/run.mjs

fuzz: deps
	scripts/fuzz $(FUZZ) $(or $(SECONDS),600)

clean:
	rm -rf $(BUILD) $(TEST_BUILD) build-fuzz
