# Docs, narration, diagram and lecture demo. Included by the Makefile (-include mk/*.mk).
#   make docs-check    chapter coverage, references, TRACE=1 narration C == Rust, demo scenes,
#                      rustdoc -D warnings
#   (make diagram, the sequence diagrams drawn from a capture, is in mk/wire.mk)
#   make demo          the six lecture scenes in tmux (IMPL=c|rust, DEMO_PORT=7007), a key per scene;
#                      narration in English or Korean (DEMO_LANG=en|ko, or a ko* locale); a wire
#                      pane shows the packets live (tcpdump, as root)
#   make demo-check    the same scenes headless, on kernel-chosen ports, asserting what each shows,
#                      its packets included (tcpdump on the scene's port; skipped, with the reason,
#                      without root), and that every scene has its narration in both languages
#   make trace-check   TRACE=1 narration: C and Rust print the same steps for the same session
#   make chapter-coverage  every code line of the chapter (c_reference/chapter/) is included by a page
#                      of the book ({{#include FILE:ANCHOR}}), English and Korean pages include the same
#   make ref-check     every test, make target and file the docs cite exists, nothing points
#                      outside the repository, docs/X.md and docs/ko/X.md cite the same names
#                      under the same headings (tests/docs/ref_check.py; under a second)
.PHONY: docs-check chapter-coverage trace-check demo demo-check rustdoc-check ref-check

PYTHON    ?= python3
DEMO_PORT ?= 7007

# The book quotes code by anchor (mdBook's {{#include FILE:ANCHOR}}), so no quote can go stale;
# what is left to check is that no line of the chapter goes unexplained.
chapter-coverage:
	$(PYTHON) tests/docs/chapter_coverage.py

ref-check:
	$(PYTHON) tests/docs/ref_check.py

trace-check: all
	$(PYTHON) tests/docs/trace_check.py

rustdoc-check:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

demo: all deps
	$(PYTHON) tests/demo/demo.py tmux $(or $(IMPL),rust) $(DEMO_PORT)

demo-check: all deps
	$(PYTHON) tests/demo/demo.py check

docs-check: ref-check chapter-coverage trace-check demo-check rustdoc-check
