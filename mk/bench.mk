# Benchmarks, C vs Rust. Included by the Makefile (-include mk/*.mk).
#   make bench         the full run (< 10 min on 2 cores): markdown table on stdout,
#                      target/bench/{results,summary}.csv and target/bench/bench.svg
#   make bench-smoke   every benchmark once with tiny sizes (a few seconds; part of make test,
#                      asserts no timing, only that each benchmark runs and echoes correctly)
#   make bench-callgrind  instruction counts of both servers under valgrind (fixed workloads)
#   make bench-builds  the servers with BUFFER_SIZE 1024, 4096, 65536 in build/bsN/{c,rust}/
# BENCH_ARGS passes more options to the driver (cargo bench --bench driver -- --help).
.PHONY: bench bench-smoke bench-builds

BENCH_SIZES  := 1024 4096 65536
BENCH_BUILDS := $(foreach n,$(BENCH_SIZES),build/bs$(n)/c/echo_server build/bs$(n)/rust/echo_server)
RUST_SRC     := $(shell find src -name '*.rs') Cargo.toml Cargo.lock
BENCH_ARGS   ?=

bench-builds: $(BENCH_BUILDS)

# C: the same compile line as build/c, with the buffer size fixed per output directory.
build/bs%/c/echo_server: c_reference/echo_server.c $(C_LIB_SRC) $(C_HDR)
	mkdir -p $(@D)
	$(CC) $(CFLAGS) -DBUFFER_SIZE=$* -o $@ c_reference/echo_server.c $(C_LIB_SRC)

# Rust: its own target dir per size, so option_env! is re-read and nothing else is rebuilt.
build/bs%/rust/echo_server: $(RUST_SRC)
	mkdir -p $(@D)
	TCP_CHAPTER_BUFFER_SIZE=$* $(CARGO) build --release --bins --target-dir target/bs-$*
	cp --remove-destination target/bs-$*/release/echo_server $@

bench: all bench-builds
	$(CARGO) bench --bench driver -- $(BENCH_ARGS)

bench-smoke: all bench-builds
	$(CARGO) bench --bench driver -- --smoke $(BENCH_ARGS)


# Instruction counts (valgrind --tool=callgrind) of both servers on fixed workloads: the
# repeatable check behind a Rust/C timing ratio outside 0.97-1.03 on a noisy machine.
.PHONY: bench-callgrind
bench-callgrind: all deps
	$(CARGO) bench --bench driver -- --callgrind $(BENCH_ARGS)
