# tcp-chapter: the chapter's C (c_reference/) and its Rust port (src/), built side by side.
#   make            build ours into build/c/ and build/rust/, the chapter's code as printed into
#                   build/chapter/
#   make deps       install the peers and tools the tests and the demo use (see DEPS)
#   make test       everything: both implementations, sanitized C, unit tests, fmt, clippy, docs
#   make compare    the shared suite against the chapter's code as printed, C and Rust: one
#                   table (chapter | C | Rust | syscalls), then the twin tests' table
#   make book       the book (docs/, Korean and English) into build/book/: open build/book/index.html
#   make lab        the labs: write each chapter function yourself, checked by these tests
# Plain `cargo test` needs none of this: it builds both (the C through tests/cprogs) and runs the
# unit, twin, suite and stress tests, skipping (as ignored) what needs a tool make deps installs.
SHELL := /bin/bash
.DEFAULT_GOAL := all

PROGRAMS := echo_server tcp_client http_get
CC       ?= cc
CFLAGS   ?= -std=c11 -Wall -Wextra -Werror -O2 -g
BUFFER_SIZE ?=
C_DEFS   := $(if $(BUFFER_SIZE),-DBUFFER_SIZE=$(BUFFER_SIZE))
CARGO    ?= cargo
export TCP_CHAPTER_BUFFER_SIZE := $(BUFFER_SIZE)

C_LIB_SRC := c_reference/server.c c_reference/client.c c_reference/http.c c_reference/relay.c c_reference/util.c
C_HDR     := $(wildcard c_reference/*.h)
C_BINS    := $(addprefix build/c/,$(PROGRAMS))
RUST_BINS := $(addprefix build/rust/,$(PROGRAMS))

# The chapter's functions as printed (c_reference/chapter/), with thin mains of their own and
# our helpers that are not chapter functions (argument parsing, tcp_client's copy loop).
CHAPTER_LIB_SRC := c_reference/chapter/server.c c_reference/chapter/client.c \
                   c_reference/chapter/http.c c_reference/relay.c c_reference/util.c
CHAPTER_HDR     := c_reference/chapter/chapter.h c_reference/relay.h c_reference/util.h \
                   c_reference/server.h
CHAPTER_BINS    := $(addprefix build/chapter/,$(PROGRAMS))

.PHONY: FORCE all c rust chapter c-asan test test-c test-rust test-asan test-unit lint compare clean deps

all: c rust chapter

c: $(C_BINS)

# The compiler and flags each C build used, rewritten only when they change: make BUFFER_SIZE=16
# (or other CFLAGS) rebuilds the C as cargo rebuilds the Rust, so the two never differ.
build/c/.flags build/c-asan/.flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(CFLAGS) $(C_DEFS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(C_DEFS)' > $@

build/c/%: c_reference/%.c $(C_LIB_SRC) $(C_HDR) build/c/.flags | build/c
	$(CC) $(CFLAGS) $(C_DEFS) -o $@ $< $(C_LIB_SRC)

chapter: $(CHAPTER_BINS)

build/chapter/%: c_reference/chapter/%.c $(CHAPTER_LIB_SRC) $(CHAPTER_HDR) | build/chapter
	$(CC) $(CFLAGS) -Ic_reference/chapter -Ic_reference -o $@ $< $(CHAPTER_LIB_SRC)

build/c build/rust build/chapter build/c-asan:
	mkdir -p $@

# The same C under AddressSanitizer and UndefinedBehaviorSanitizer: any report aborts.
ASAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
c-asan: $(addprefix build/c-asan/,$(PROGRAMS))

build/c-asan/%: c_reference/%.c $(C_LIB_SRC) $(C_HDR) build/c-asan/.flags | build/c-asan
	$(CC) $(CFLAGS) -O1 $(ASAN_FLAGS) $(C_DEFS) -o $@ $< $(C_LIB_SRC)

rust: | build/rust
	$(CARGO) build --release --bins
	cp --remove-destination $(addprefix target/release/,$(PROGRAMS)) build/rust/

test: all deps test-unit test-twins lint test-asan docs-check trace-compare stress-fast valgrind-check bench-smoke \
      chapter-diff-check pitfalls-check labs-check book-check wire-check path-check run-check
	IMPL=all $(CARGO) test --release --test suite

# The suite runs the programs cargo builds for it (C: tests/cprogs, Rust: src/bin), not build/.
test-c: deps
	IMPL=c $(CARGO) test --release --test suite

test-rust: deps
	IMPL=rust $(CARGO) test --release --test suite

# The whole suite against the sanitized C. Reports go to files (a forked server child's stderr
# is not checked by the suite), and any report file fails the target.
ASAN_LOGS := $(CURDIR)/build/asan-logs
test-asan: c-asan deps
	rm -rf $(ASAN_LOGS) && mkdir -p $(ASAN_LOGS)
	ASAN_OPTIONS=log_path=$(ASAN_LOGS)/asan:exitcode=99 \
	UBSAN_OPTIONS=log_path=$(ASAN_LOGS)/ubsan:halt_on_error=1:print_stacktrace=1 \
	  IMPL=c-asan $(CARGO) test --release --test suite
	@if [ -n "$$(ls -A $(ASAN_LOGS))" ]; then echo "sanitizer reports:"; cat $(ASAN_LOGS)/*; exit 1; fi
	@echo "sanitizers: no reports"

test-unit:
	$(CARGO) test --release --lib --bins

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

compare: deps
	SUITE_COMPARE=1 $(CARGO) test --release --test suite
	$(MAKE) --no-print-directory compare-twins

# Real peers the suite talks to, and the tools of the demo, traces, stress and valgrind checks
# (COMMAND:PACKAGE); each package installed only when its command is missing (Debian, as root or
# via sudo). Every target that needs one of them depends on deps. tcpdump: the demo's wire pane
# and demo-check's packet checks; unshare (util-linux): the SYN queue cases of make claims.
DEPS := socat:socat python3:python3 ss:iproute2 tmux:tmux strace:strace valgrind:valgrind \
        setpriv:util-linux prlimit:util-linux unshare:util-linux tcpdump:tcpdump nstat:iproute2
deps:
	@missing=""; \
	for p in $(DEPS); do \
	  command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	elif [ "$(MAKECMDGOALS)" = deps ]; then \
	  echo "deps: every tool is installed"; \
	fi

# Topic targets live in mk/*.mk (docs, trace, twins, bench, stress).
-include mk/*.mk

# build/labs/ holds the labs' progress and the student's attempts (make lab): kept.
clean:
	if [ -d build ]; then find build -mindepth 1 -maxdepth 1 ! -name labs -exec rm -rf {} +; fi
	$(CARGO) clean
