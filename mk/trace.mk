# Syscall-trace parity. Included by the Makefile (-include mk/*.mk).
#   make trace SCENARIO=name IMPL=c|rust   one scenario's normalised trace(s), each call
#                                          annotated with its chapter step (a lecture tool)
#   make trace-compare                     the whole suite under strace, C vs Rust per
#                                          scenario (fails on any difference), plus the
#                                          normaliser's own tests
#   make trace-unit                        only the normaliser's tests
# Traces land in build/traces/ (one file per program run; see tests/trace/compare.py).
.PHONY: trace trace-compare trace-unit trace-deps

PYTHON     ?= python3
TRACE_DIR  := $(CURDIR)/build/traces
SCENARIO   ?=

trace-deps: deps

trace-unit:
	$(PYTHON) -m unittest discover -s tests/trace -p 'test_*.py'

trace: deps trace-deps
	@test -n "$(SCENARIO)" || { echo "usage: make trace SCENARIO=name IMPL=c|rust (names: cargo test --test suite -- --list, without the ::IMPL ending)"; exit 2; }
	@case "$(IMPL)" in c|rust) ;; *) echo "IMPL must be c or rust"; exit 2;; esac
	@rm -rf $(TRACE_DIR)/one && mkdir -p $(TRACE_DIR)/one
	@SUITE_STRACE_DIR=$(TRACE_DIR)/one IMPL=$(IMPL) $(CARGO) test --release --test suite -- --exact '$(SCENARIO)::$(IMPL)' | grep -E '^test .* \.\.\. '
	@found=0; for f in $(TRACE_DIR)/one/*.trace; do \
	  [ -e "$$f" ] || continue; found=1; \
	  echo; echo "### $$(basename $$f .trace)"; \
	  $(PYTHON) tests/trace/normalise.py "$$f" --annotate; \
	done; [ $$found = 1 ] || { echo "no trace: is '$(SCENARIO)' an exact scenario name?"; exit 1; }

trace-compare: deps trace-deps trace-unit
	rm -rf $(TRACE_DIR)/all && mkdir -p $(TRACE_DIR)/all
	SUITE_STRACE_DIR=$(TRACE_DIR)/all IMPL=both $(CARGO) test --release --test suite
	$(PYTHON) tests/trace/compare.py $(TRACE_DIR)/all
