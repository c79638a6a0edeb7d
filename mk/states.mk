# The TCP state diagram of docs/tcp-states.md. Included by the Makefile (-include mk/*.mk).
#   make state-diagram        draw docs/img/tcp-states.en.svg and docs/img/tcp-states.ko.svg
#                             (tests/docs/state_diagram.py: states, transitions, the wire lessons'
#                             paths; text as text, so Korean needs a CJK font to be seen)
#   make state-diagram-check  fail when the committed SVGs differ from what the script draws
#                             (part of make docs-check)
.PHONY: state-diagram state-diagram-check

PYTHON ?= python3

state-diagram:
	$(PYTHON) tests/docs/state_diagram.py

state-diagram-check:
	$(PYTHON) tests/docs/state_diagram.py --check

docs-check: state-diagram-check
