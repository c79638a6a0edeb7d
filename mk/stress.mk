# Stress, faults, bad input, valgrind. Included by the Makefile (-include mk/*.mk).
#   make stress          full sizes, both implementations (64 x 16 MiB, 1,000 connections; minutes)
#   make stress-fast     the fast subset (64 x 1 MiB, 200 connections; part of make test)
#   make valgrind-check  the C programs under valgrind --leak-check=full (part of make test)
# IMPL=c|rust|both|all|c-asan picks the builds (default both); RUST_TEST_THREADS the workers
# (default 2). The programs are the ones cargo builds for the test (tests/cprogs, src/bin).
.PHONY: stress stress-fast valgrind-check stress-deps

PYTHON ?= python3

# strace (slow reader), setpriv and prlimit (util-linux: limits as user nobody), valgrind.
stress-deps: deps

stress: deps stress-deps
	STRESS=full IMPL=$(or $(IMPL),both) $(CARGO) test --release --test stress

stress-fast: deps stress-deps
	IMPL=$(or $(IMPL),both) $(CARGO) test --release --test stress

valgrind-check: c stress-deps
	$(PYTHON) tests/stress/valgrind_check.py

# make test runs the fast subset and the valgrind check too.
