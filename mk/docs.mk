# Docs, narration, diagram and lecture demo. Included by the Makefile (-include mk/*.mk).
#   make docs-check    quoted code, TRACE=1 narration C == Rust, demo scenes, rustdoc -D warnings
#   (make diagram, the sequence diagrams drawn from a capture, is in mk/wire.mk)
#   make demo          the six lecture scenes in tmux (IMPL=c|rust, DEMO_PORT=7007), a key per scene;
#                      narration in English or Korean (DEMO_LANG=en|ko, or a ko* locale)
#   make demo-check    the same scenes headless, on kernel-chosen ports, asserting what each shows,
#                      and that every scene has its narration in both languages
#   make trace-check   TRACE=1 narration: C and Rust print the same steps for the same session
#   make quote-check   every code block quoted in docs/walkthrough.md (and ko/) matches its lines
#   make ref-check     every test, make target and file the docs cite exists, nothing points
#                      outside the repository, docs/X.md and docs/ko/X.md cite the same names
#                      under the same headings (tests/docs/ref_check.py; under a second)
.PHONY: docs-check quote-check trace-check demo demo-check rustdoc-check ref-check

PYTHON    ?= python3
DEMO_PORT ?= 7007

# quote-check also fails when a code line of the chapter (c_reference/chapter/) is quoted nowhere.
quote-check:
	$(PYTHON) tests/docs/quote_check.py
	$(PYTHON) tests/docs/chapter_coverage.py

ref-check:
	$(PYTHON) tests/docs/ref_check.py

trace-check: all
	$(PYTHON) tests/docs/trace_check.py

rustdoc-check:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps

demo: all
	$(PYTHON) tests/demo/demo.py tmux $(or $(IMPL),rust) $(DEMO_PORT)

demo-check: all
	$(PYTHON) tests/demo/demo.py check

docs-check: ref-check quote-check trace-check demo-check rustdoc-check
