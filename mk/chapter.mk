# The chapter's code as printed (c_reference/chapter/, built into build/chapter/ by `make`).
#   make chapter-diff         the chapter's seven functions against ours, as a unified diff of the
#                             code (comments dropped, one statement per line), each hunk labelled
#                             with its row of docs/deviations.md; fails on a hunk no row explains
#   make chapter-diff-check   the same verdict without the diff (part of make test)
.PHONY: chapter-diff chapter-diff-check

PYTHON ?= python3

chapter-diff:
	@$(PYTHON) tests/chapter/chapter_diff.py

chapter-diff-check:
	@$(PYTHON) tests/chapter/chapter_diff.py --check
