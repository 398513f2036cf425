# forge — see README.md. Every target works on a fresh clone with only the Swift toolchain.
SWIFT ?= swift
PREFIX ?= /usr/local
BUILD_FLAGS ?=
RELEASE_FLAGS = -c release --static-swift-stdlib

.PHONY: build run test bench lint format install release clean

build:
	$(SWIFT) build $(BUILD_FLAGS)

run: build
	$(SWIFT) run $(BUILD_FLAGS) forge start -f Procfile.example

test:
	$(SWIFT) build --build-tests $(BUILD_FLAGS)
	$(SWIFT) test --skip-build $(BUILD_FLAGS)

bench:
	$(SWIFT) build $(RELEASE_FLAGS)
	python3 bench/bench.py --forge "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/forge"

lint:
	$(SWIFT) format lint --strict --recursive --configuration .swift-format Package.swift Sources Tests

format:
	$(SWIFT) format format --in-place --recursive --configuration .swift-format Package.swift Sources Tests

release:
	$(SWIFT) build $(RELEASE_FLAGS)
	@ls -l "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/forge"

install: release
	install -d "$(DESTDIR)$(PREFIX)/bin"
	install -m 0755 "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/forge" "$(DESTDIR)$(PREFIX)/bin/forge"
	install -d "$(DESTDIR)$(PREFIX)/share/man/man1"
	install -m 0644 docs/forge.1 "$(DESTDIR)$(PREFIX)/share/man/man1/forge.1"

clean:
	rm -rf .build
