# kernrnn: the two commands a new machine needs are `make demo` and `make test`.
# Everything native builds in cargo's default (dev) profile, which Cargo.toml optimises, so
# `make sample`, the tests and training share one build of burn. The WebAssembly build has its
# own target folder (WASM_TARGET_DIR) and profile (`wasm`), so it never invalidates that build.

CARGO ?= cargo
CORPUS ?= ../shared/corpus
MODEL ?= models/mozart.safetensors
SEED ?= 1
TEMPERATURE ?= 0.8
LENGTH ?= 2000
KERNRNN = $(CARGO) run --quiet --bin kernrnn --

.PHONY: demo sample test test-web lint build bench bench-gpu bench-web validity fidelity train-mozart train-beethoven \
	models-readme clean site wasm wasm-toolchain web-deps chromium vulkan size

## sample: build and print a sampled Mozart score (**kern) with the shipped model
sample:
	$(KERNRNN) sample --model $(MODEL) --seed $(SEED) --temperature $(TEMPERATURE) --length $(LENGTH) --kern

## test: every test: the Rust tests (the GPU sampler's on Mesa's lavapipe, a CPU Vulkan),
## formatting and clippy (lint), then the browser tests (headless Chromium)
test: vulkan
	$(CARGO) test --all-targets
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-web

## lint: the code is rustfmt's (rustfmt.toml) and clippy finds nothing, tests and examples included
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

# ---------------------------------------------------------------------------------------------
# The browser composer (www/ -> dist/). Tools are installed only when missing: the wasm32
# target (rustup), wasm-bindgen-cli (cargo install, pinned to Cargo.toml's wasm-bindgen),
# www/node_modules (npm ci: verovio, Tone.js, the piano's samples, binaryen's wasm-opt,
# playwright-core) and, for the tests, Debian's chromium (apt-get).

NODE ?= node
NPM ?= npm
PORT ?= 8080
SITE ?= dist
SITE_MODELS ?= models
CHROMIUM ?= /usr/bin/chromium
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)
WASM_BINDGEN_VERSION = 0.2.130
NATIVE_TARGET_DIR = $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),target)
WASM_TARGET_DIR ?= $(NATIVE_TARGET_DIR)/wasm
WASM_ARTIFACT = $(WASM_TARGET_DIR)/wasm32-unknown-unknown/wasm/kernrnn.wasm
# SIMD: the LSTM step's row updates vectorise; every browser since 2023 runs it, and the
# results are the same bits as without (element-wise f32 arithmetic, no fused multiply-add).
WASM_RUSTFLAGS = -C target-feature=+simd128
WASM_OPT_FLAGS = -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
	--enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
	--strip-debug --strip-producers

## demo: build the browser composer (dist/) and serve it at http://127.0.0.1:$(PORT)/
demo: site
	$(NODE) www/serve.mjs $(SITE) --port $(PORT)

## site: the static site in dist/ (page, <kern-sampler>, wasm, verovio, Tone.js, models, service worker)
site: wasm web-deps
	$(NODE) www/build.mjs --out $(SITE) --models $(SITE_MODELS)

## size: bytes and gzip'd bytes of the wasm and of everything the page loads
size: site
	$(NODE) www/build.mjs size --out $(SITE)

wasm-toolchain:
	@rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
	@wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $(WASM_BINDGEN_VERSION)" || \
		$(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

## wasm: the library for the browser (pkg/kernrnn.js and pkg/kernrnn_bg.wasm)
wasm: wasm-toolchain web-deps
	CARGO_TARGET_DIR=$(WASM_TARGET_DIR) CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$(WASM_RUSTFLAGS)" \
		$(CARGO) build --lib --target wasm32-unknown-unknown --no-default-features --features webgpu --profile wasm
	@$(MAKE) --no-print-directory pkg/kernrnn_bg.wasm

pkg/kernrnn_bg.wasm: $(WASM_ARTIFACT) www/node_modules/.package-lock.json
	wasm-bindgen --target web --out-dir pkg $(WASM_ARTIFACT)
	www/node_modules/.bin/wasm-opt $(WASM_OPT_FLAGS) pkg/kernrnn_bg.wasm -o pkg/kernrnn_bg.wasm

web-deps: www/node_modules/.package-lock.json

www/node_modules/.package-lock.json: www/package.json www/package-lock.json
	@command -v $(NODE) >/dev/null && command -v $(NPM) >/dev/null || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y nodejs npm; }
	cd www && $(NPM) ci --no-audit --no-fund
	@touch $@

chromium:
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }

# A Vulkan driver for the native GPU-sampler tests: Debian's lavapipe runs on any CPU.
vulkan:
	@! command -v dpkg >/dev/null || dpkg -s mesa-vulkan-drivers libvulkan1 >/dev/null 2>&1 || \
		{ $(SUDO) apt-get update && $(SUDO) apt-get install -y mesa-vulkan-drivers libvulkan1; }

## test-web: the browser tests (node --test, playwright-core driving headless Chromium, with
## and without WebGPU); they compare the page's samples with target/debug/kernrnn's
test-web: site chromium
	$(CARGO) build --quiet --bin kernrnn
	KERNRNN=$(NATIVE_TARGET_DIR)/debug/kernrnn CHROMIUM=$(CHROMIUM) SITE=$(SITE) $(NODE) --test --test-concurrency=1 $(wildcard www/test/*.test.mjs)

build:
	$(CARGO) build --all-targets

## bench-web: the browser benchmark in one headless Chromium run (WebGPU on SwiftShader): chars/s
## on the CPU path and on WebGPU, dispatches per character, 8 variations, page open to first
## notation, gzip'd bytes, and the same LSTM in TensorFlow.js on each of its backends
bench-web: site chromium
	CHROMIUM=$(CHROMIUM) SITE=$(SITE) $(NODE) www/tools/bench-web.mjs

## bench: training and sampling speed on this machine, as a table
bench:
	$(CARGO) run --quiet --example bench -- --corpus $(CORPUS)/mozart

## bench-gpu: the training table on a GPU through wgpu (fused kernels against burn's stock ops)
bench-gpu: vulkan
	$(CARGO) run --quiet --example bench -- --corpus $(CORPUS)/mozart --gpu --iterations $(GPU_ITERATIONS)
GPU_ITERATIONS ?= 20

## validity: the validity benchmark (issue 4): seeds 1..SEEDS at temperatures 0.8 and 1.2 from
## every shipped model, constrained and raw, checked by `kernrnn check`'s code and by verovio;
## then the fidelity table over 8 seeds
SEEDS ?= 100
VALIDITY_DIR ?= $(NATIVE_TARGET_DIR)/validity
validity: web-deps
	rm -rf $(VALIDITY_DIR) && mkdir -p $(VALIDITY_DIR)
	$(CARGO) run --quiet --example validity -- --seeds $(SEEDS) --out $(VALIDITY_DIR)
	$(NODE) www/tools/verovio-check.mjs $(VALIDITY_DIR)
	$(CARGO) run --quiet --example fidelity -- --seeds 8 --length 6000

## fidelity: is a constrained sample the model's own music? Raw and constrained samples of
## every shipped model beside its corpus (FIDELITY_SEEDS seeds at 0.8 and 1.0, 15,000 characters)
FIDELITY_SEEDS ?= 24
fidelity:
	$(CARGO) run --quiet --example fidelity -- --seeds $(FIDELITY_SEEDS) --corpus $(CORPUS)

## train-mozart / train-beethoven: the runs that made the shipped models (resumable:
## run again with RESUME=--resume after an interruption)
train-mozart:
	$(KERNRNN) train --corpus $(CORPUS)/mozart --name mozart --dropout 0.25 --epochs 36 \
		--seq-length 200 --batch-size 13 $(RESUME)

train-beethoven:
	$(KERNRNN) train --corpus $(CORPUS)/beethoven --name beethoven --dropout 0.25 --epochs 30 \
		--seq-length 200 --batch-size 13 $(RESUME)

clean:
	$(CARGO) clean
	rm -rf dist pkg
