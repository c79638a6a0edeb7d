# tcp-chapter: the chapter's C (c_reference/) and its Rust port (src/), built side by side.
#   make            build both into build/c/ and build/rust/
#   make test       everything: both implementations, unit tests, fmt, clippy
#   make compare    the shared suite against both, one table
SHELL := /bin/bash
.DEFAULT_GOAL := all

PROGRAMS := echo_server tcp_client http_get
CC       ?= cc
CFLAGS   ?= -std=c11 -Wall -Wextra -Werror -O2 -g
BUFFER_SIZE ?=
C_DEFS   := $(if $(BUFFER_SIZE),-DBUFFER_SIZE=$(BUFFER_SIZE))
CARGO    ?= cargo
export TCP_CHAPTER_BUFFER_SIZE := $(BUFFER_SIZE)

C_LIB_SRC := c_reference/server.c c_reference/client.c c_reference/http.c c_reference/util.c
C_HDR     := $(wildcard c_reference/*.h)
C_BINS    := $(addprefix build/c/,$(PROGRAMS))
RUST_BINS := $(addprefix build/rust/,$(PROGRAMS))

.PHONY: all c rust test test-c test-rust test-unit lint compare clean deps

all: c rust

c: $(C_BINS)

build/c/%: c_reference/%.c $(C_LIB_SRC) $(C_HDR) | build/c
	$(CC) $(CFLAGS) $(C_DEFS) -o $@ $< $(C_LIB_SRC)

build/c build/rust:
	mkdir -p $@

rust: | build/rust
	$(CARGO) build --release --bins
	cp $(addprefix target/release/,$(PROGRAMS)) build/rust/

test: all deps test-unit lint
	IMPL=both $(CARGO) test --release --test suite

test-c: c rust deps
	IMPL=c $(CARGO) test --release --test suite

test-rust: rust deps
	IMPL=rust $(CARGO) test --release --test suite

test-unit:
	$(CARGO) test --release --lib --bins

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

compare: all deps
	$(CARGO) test --release --test suite -- --compare

# Real peers the suite talks to; installed only when missing (Debian, as root or via sudo).
deps:
	@missing=""; \
	for p in socat:socat python3:python3; do \
	  command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# Each issue's targets live in mk/*.mk (docs, trace, bench, stress).
-include mk/*.mk

clean:
	rm -rf build
	$(CARGO) clean
