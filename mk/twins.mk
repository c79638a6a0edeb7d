# Function-level twins. Included by the Makefile (-include mk/*.mk).
#   make test-twins      every chapter function's tests, written once, run against the C
#                        (c_reference/, compiled by tests/twins/build.rs) and the Rust (src/)
#   make compare-twins   the same, as a table: twin test | C | Rust, then
#                        "N twin tests, N same, 0 differ" (fails on a difference or a failure)
# The tests are tests/twins/tests/twins.rs; the workspace member is tests/twins/.
.PHONY: test-twins compare-twins

PYTHON ?= python3

test-twins:
	$(CARGO) test --release -p tcp-chapter-twins

compare-twins:
	@$(PYTHON) tests/twins/compare.py --self-check >/dev/null
	@CARGO=$(CARGO) $(PYTHON) tests/twins/compare.py
