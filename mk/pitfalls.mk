# Each pitfall of the chapter's code a one-command experiment. Included by the Makefile.
#   make pitfall                 list the pitfalls (numbered as in docs/pitfalls.md)
#   make pitfall N=2 IMPL=rust   undo that fix in a copy of the tree (build/pitfall/), run the
#                                tests that guard it, show what a student should see; exit 0
#                                when the guard caught the bug, 1 when the mutant survived
#   make pitfalls-check          every mutant, C and Rust; fails on any survivor, on a stale
#                                mutant and on a guarded row of docs/deviations.md without one
#   make pitfalls-validate       the static part only (registry vs sources vs docs), seconds
# The registry is tests/pitfalls/pitfalls.toml; the tool tests/pitfalls/pitfall.py.
.PHONY: pitfall pitfalls-check pitfalls-validate

PYTHON ?= python3
N      ?=

pitfall: all deps
	@if [ -z "$(N)" ]; then $(PYTHON) tests/pitfalls/pitfall.py list; \
	else $(PYTHON) tests/pitfalls/pitfall.py run $(N) --impl $(or $(IMPL),both); fi

pitfalls-check: all deps
	$(PYTHON) tests/pitfalls/pitfall.py check

pitfalls-validate:
	$(PYTHON) tests/pitfalls/pitfall.py validate
