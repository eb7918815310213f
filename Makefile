# kernrnn: the two commands a new machine needs are `make demo` and `make test`.
# Everything builds in cargo's default (dev) profile, which Cargo.toml optimises, so the
# demo, the tests and training share one build of burn.

CARGO ?= cargo
CORPUS ?= ../shared/corpus
MODEL ?= models/mozart.safetensors
SEED ?= 1
TEMPERATURE ?= 0.8
LENGTH ?= 2000
KERNRNN = $(CARGO) run --quiet --bin kernrnn --

.PHONY: demo test build bench train-mozart train-beethoven models-readme clean

## demo: build and print a sampled Mozart score (**kern) with the shipped model
demo:
	$(KERNRNN) sample --model $(MODEL) --seed $(SEED) --temperature $(TEMPERATURE) --length $(LENGTH) --kern

## test: every test
test:
	$(CARGO) test --all-targets

build:
	$(CARGO) build --all-targets

## bench: training and sampling speed on this machine, as a table
bench:
	$(CARGO) run --quiet --example bench -- --corpus $(CORPUS)/mozart

## train-mozart / train-beethoven: the runs that made the shipped models (resumable:
## run again with RESUME=--resume after an interruption)
train-mozart:
	$(KERNRNN) train --corpus $(CORPUS)/mozart --name mozart --dropout 0.05 --epochs 30 $(RESUME)

train-beethoven:
	$(KERNRNN) train --corpus $(CORPUS)/beethoven --name beethoven --dropout 0.1 --epochs 30 $(RESUME)

clean:
	$(CARGO) clean
