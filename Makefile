# Swiftlet — make targets. Start with `make run` or `make test` (each
# installs what a fresh Debian 12 machine lacks first).
SWIFT      ?= swift
PORT       ?= 8080
TLS_PORT   ?= 8443
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RELEASE    := .build/release
SITE       := .build/site
APT_PACKAGES := liburing-dev libssl-dev libzstd-dev libbrotli-dev zlib1g-dev curl nghttp2-client nghttp2-server h2o nginx-light haproxy \
                chromium python3-pip xz-utils openssl procps valgrind linux-perf \
                golang-go golang-github-fatih-color-dev golang-github-spf13-cobra-dev golang-golang-x-net-dev
# h2spec's source, kept beside the repository in this setup (see test-e2e).
H2SPEC_SRC ?= $(firstword $(wildcard ../shared/h2spec /work/shared/h2spec))
PIP_PACKAGES := h2 hpack hyperframe httpx[http2] pytest prometheus_client brotli zstandard websockets grpcio grpcio-tools

.PHONY: all build h2spec deps test test-unit test-e2e test-e2e-epoll test-soak test-asan test-tsan check-fuzz-corpus check-allocations run run-tls site bench bench-compress bench-echo bench-micro bench-request-cost bench-idle-memory bench-connection-cost bench-async bench-h1 bench-write-path bench-page-load bench-peers bench-soak fuzz clean grpc-swift-nio test-grpc-swift bench-grpc

all: build

## build: the release binary and tools
build:
	$(SWIFT) build -c release

## deps: install the Debian and Python packages the build and the tests need (only missing ones)
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@python3 -c "import h2, hpack, hyperframe, httpx, pytest, prometheus_client, brotli, zstandard, websockets, grpc, grpc_tools" 2>/dev/null || python3 -m pip install -q $(PIP_PACKAGES) \
	  || python3 -m pip install -q --break-system-packages $(PIP_PACKAGES)

## test: unit and protocol tests, allocation checks, end-to-end tests with real clients,
## a 2-minute soak, and the unit suites plus a short end-to-end run under AddressSanitizer
test: deps test-unit check-fuzz-corpus check-allocations test-e2e test-e2e-epoll test-soak test-asan

test-unit:
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --no-parallel

## check-fuzz-corpus: replay the fuzz seed corpus (and any findings kept there) through the fuzz targets
check-fuzz-corpus:
	$(SWIFT) build --product swiftlet-fuzz-frames
	$(SWIFT) build --product swiftlet-fuzz-hpack
	.build/debug/swiftlet-fuzz-frames tools/fuzz/corpus/frames/*
	.build/debug/swiftlet-fuzz-hpack tools/fuzz/corpus/hpack/*

check-allocations:
	$(SWIFT) build -c release --product swiftlet-microbench
	$(RELEASE)/swiftlet-microbench --check

## grpc-swift-nio: grpc-swift's client and server over its own NIO transport (tools/grpc-swift-nio, a package
## of its own: SwiftNIO and swift-nio-ssl take minutes to build), for test-grpc-swift and bench-grpc
grpc-swift-nio:
	$(SWIFT) build -c release --package-path tools/grpc-swift-nio

## test-grpc-swift: grpc-swift's NIO client calling swiftlet-grpc-echo over h2c and TLS, on io_uring and on epoll
## (and, as a control, grpc-swift's own NIO server)
test-grpc-swift: build grpc-swift-nio
	for io in uring epoll; do \
	  SWIFTLET_IO=$$io SWIFTLET_BIN=$(CURDIR)/$(RELEASE)/swiftlet GRPC_SWIFT_NIO_BIN=$(CURDIR)/tools/grpc-swift-nio/.build/release \
	    python3 -m pytest -q Tests/e2e/test_grpc_swift_client.py || exit 1; \
	done

## h2spec: build the HTTP/2 conformance tool from $(H2SPEC_SRC) (skipped, with a note, where it is absent)
h2spec:
	@if [ -z "$(H2SPEC_SRC)" ]; then echo "h2spec: no ../shared/h2spec here; its end-to-end test will be skipped"; \
	elif [ ! -x .build/h2spec/h2spec ]; then $(H2SPEC_SRC)/build.sh $(CURDIR)/.build/h2spec/h2spec; fi

## test-e2e: the end-to-end suite (real binary, real clients, h2spec strict over h2c and TLS)
test-e2e: build h2spec
	SWIFTLET_BIN=$(CURDIR)/$(RELEASE)/swiftlet python3 -m pytest -q Tests/e2e

## test-e2e-epoll: the end-to-end suite with every server on the epoll backend (the default is io_uring)
test-e2e-epoll: build h2spec
	SWIFTLET_IO=epoll SWIFTLET_BIN=$(CURDIR)/$(RELEASE)/swiftlet python3 -m pytest -q Tests/e2e

## test-soak: 2 minutes of mixed load (small, large, page, churn, slow readers, resets); memory,
## descriptors and CPU per request must stay flat after the first 30 s
test-soak: build
	python3 tools/soak.py --swiftlet $(RELEASE)/swiftlet --minutes 2 --interval 15 --warmup 2 --cpu-drift 0.10 --check

# LeakSanitizer is off: it misreads objects held in Swift enum payloads (spare
# pointer bits) as leaked. check_malloc_usable_size=0: the Swift runtime asks
# malloc_usable_size about memory allocated before ASan took over malloc.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=0:check_malloc_usable_size=0:log_path=$(CURDIR)/.build-asan/report
## test-asan: the unit suites, then a short end-to-end run, under AddressSanitizer
test-asan:
	$(SWIFT) build --build-tests --build-path .build-asan -Xswiftc -sanitize=address
	rm -f .build-asan/report*
	$(ASAN_ENV) $(SWIFT) test --skip-build --build-path .build-asan --no-parallel || { cat .build-asan/report* 2>/dev/null; exit 1; }
	$(SWIFT) build -c release --build-path .build-asan --product swiftlet -Xswiftc -sanitize=address
	$(ASAN_ENV) SWIFTLET_BIN=$(CURDIR)/.build-asan/release/swiftlet python3 -m pytest -q \
	  Tests/e2e/test_real_clients.py Tests/e2e/test_python_h2.py Tests/e2e/test_file_changes.py Tests/e2e/test_tls.py Tests/e2e/test_compression.py \
	  -k "not chromium"; status=$$?; \
	if ls .build-asan/report* >/dev/null 2>&1; then cat .build-asan/report*; echo "AddressSanitizer reported errors"; exit 1; fi; \
	exit $$status

## test-tsan: the unit suites, then a short end-to-end run with two loops and cold files, under
## ThreadSanitizer (cross-thread execute, the prefetcher, multi-loop servers)
TSAN_ENV := TSAN_OPTIONS=halt_on_error=1:log_path=$(CURDIR)/.build-tsan/report:suppressions=$(CURDIR)/tools/tsan-suppressions.txt
test-tsan:
	$(SWIFT) build --build-tests --build-path .build-tsan -Xswiftc -sanitize=thread
	rm -f .build-tsan/report*
	$(TSAN_ENV) $(SWIFT) test --skip-build --build-path .build-tsan --no-parallel || { cat .build-tsan/report* 2>/dev/null; exit 1; }
	$(SWIFT) build -c release --build-path .build-tsan --product swiftlet -Xswiftc -sanitize=thread
	$(TSAN_ENV) SWIFTLET_LOOPS=2 SWIFTLET_BIN=$(CURDIR)/.build-tsan/release/swiftlet python3 -m pytest -q \
	  Tests/e2e/test_real_clients.py Tests/e2e/test_file_changes.py Tests/e2e/test_lifecycle.py Tests/e2e/test_compression.py; status=$$?; \
	if ls .build-tsan/report* >/dev/null 2>&1; then cat .build-tsan/report*; echo "ThreadSanitizer reported races"; exit 1; fi; \
	exit $$status

## site: the example site (examples/site plus docs/ rendered to HTML)
site:
	rm -rf $(SITE) && mkdir -p $(SITE)
	cp -R examples/site/. $(SITE)/
	python3 tools/render-docs.py docs $(SITE)/docs

## run: build and serve the example site on http://127.0.0.1:$(PORT)
run: deps build site
	@echo "serving $(SITE) — open http://127.0.0.1:$(PORT)/ (HTTP/2: curl --http2-prior-knowledge http://127.0.0.1:$(PORT)/)"
	$(RELEASE)/swiftlet --host 127.0.0.1 --port $(PORT) $(SITE)

## run-tls: the same over TLS (h2 and http/1.1) on https://localhost:$(TLS_PORT), with a self-signed certificate
run-tls: deps build site .build/tls/localhost.pem
	@echo "serving $(SITE) — open https://localhost:$(TLS_PORT)/ (self-signed: curl -k, or accept the warning)"
	$(RELEASE)/swiftlet --host 127.0.0.1 --port $(TLS_PORT) \
	  --tls-cert .build/tls/localhost.pem --tls-key .build/tls/localhost.key $(SITE)

.build/tls/localhost.pem:
	mkdir -p .build/tls
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 -subj /CN=localhost \
	  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout .build/tls/localhost.key -out $@ 2>/dev/null

## bench: the benchmarks (echo loop, micro benchmarks, write path, page load, HTTP/2 against h2o, nginx and nghttpd,
## gRPC against grpc-swift's NIO server, and a 30-minute soak)
bench: deps build bench-micro bench-echo bench-request-cost bench-async bench-grpc bench-compress bench-h1 bench-idle-memory bench-connection-cost bench-write-path bench-page-load bench-peers bench-soak

bench-micro:
	$(RELEASE)/swiftlet-microbench

bench-echo:
	$(RELEASE)/swiftlet-echo-bench compare

## bench-request-cost: instructions (callgrind) and Swift runtime calls (retain, release, exclusivity checks,
## allocations; uprobes) per 1 KiB h2c request
bench-request-cost:
	python3 tools/request-cost.py --swiftlet $(RELEASE)/swiftlet

## bench-async: server CPU per request of an async handler against the same response from a callback handler
bench-async: build
	python3 tools/async-cost.py --bin $(RELEASE) --instructions

## bench-grpc: unary gRPC calls per second and server CPU per call, swiftlet-grpc-echo against the same service on
## grpc-swift's own NIO server transport, over h2c and TLS
bench-grpc: build grpc-swift-nio
	python3 tools/grpc-bench.py --swiftlet $(RELEASE)/swiftlet-grpc-echo --nio tools/grpc-swift-nio/.build/release/grpc-nio-echo

## bench-compress: a 50 KiB script sent compressed (br, gzip), server CPU per request against h2o's compress: ON and nginx's gzip
bench-compress: build
	python3 tools/compress-bench.py --swiftlet $(RELEASE)/swiftlet

## bench-h1: HTTP/1.1 keep-alive, server CPU per 1 KiB request against h2o and nginx
bench-h1: build
	python3 tools/h1-bench.py --swiftlet $(RELEASE)/swiftlet

## bench-idle-memory: memory per idle connection (2000 connections, h2c then TLS) against h2o and nghttpd
bench-idle-memory:
	python3 tools/idle-memory.py --swiftlet $(RELEASE)/swiftlet
	python3 tools/idle-memory.py --swiftlet $(RELEASE)/swiftlet --tls

## bench-connection-cost: server CPU per new h2c connection (one request each, 32 at a time) against h2o
bench-connection-cost: build
	python3 tools/connection-cost.py --swiftlet $(RELEASE)/swiftlet

bench-write-path:
	python3 tools/write-path-bench.py --swiftlet $(RELEASE)/swiftlet

bench-page-load:
	python3 tools/page-load.py --swiftlet $(RELEASE)/swiftlet

bench-peers: site
	python3 tools/bench-peers.py --swiftlet $(RELEASE)/swiftlet

## bench-soak: 30 minutes of mixed load, memory, descriptors and CPU per request every minute
bench-soak:
	python3 tools/soak.py --swiftlet $(RELEASE)/swiftlet --minutes 30 --interval 60 --check

## fuzz: libFuzzer with AddressSanitizer on the frame path and on HPACK, FUZZ_SECONDS each (default 60);
## the corpus grows in .build/fuzz/corpus-*, findings land in .build/fuzz/ (add them to tools/fuzz/corpus/)
FUZZ_SECONDS ?= 60
FUZZ_FLAGS := -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
fuzz:
	@for target in frames hpack; do \
	  $(SWIFT) build --build-path .build-fuzz $(FUZZ_FLAGS) --product swiftlet-fuzz-$$target || exit 1; \
	  mkdir -p .build/fuzz/corpus-$$target && cp tools/fuzz/corpus/$$target/* .build/fuzz/corpus-$$target/; \
	done
	# detect_leaks=0 for the frame target: LeakSanitizer misreads objects held in Swift enum
	# payloads (spare pointer bits) as leaked; the harness checks that every connection is released.
	ASAN_OPTIONS=detect_leaks=0 .build-fuzz/release/swiftlet-fuzz-frames -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	  -artifact_prefix=.build/fuzz/ -print_final_stats=1 .build/fuzz/corpus-frames
	.build-fuzz/release/swiftlet-fuzz-hpack -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
	  -artifact_prefix=.build/fuzz/ -print_final_stats=1 .build/fuzz/corpus-hpack

clean:
	rm -rf .build .build-* 
