# The core path, "여기서 시작: 8-12시간" (docs/ko/start.md, docs/start.md), and its first page, the
# run page (docs/run.md, docs/ko/run.md). Included by the Makefile.
#   make path-check   the core path's time from the files the start pages link (reading rates,
#                     mdBook includes resolved) and the hands-on times stated in
#                     tests/docs/core_path.toml; prints the figure per item and the total, and
#                     fails on a missing linked file or include, an unstated command, an item
#                     whose heading states another time, or a total above 12 hours (python3
#                     only, under a second)
#   make run-check    the run page's commands with gcc and make alone (PATH=/usr/bin:/bin), and
#                     every output block it shows against what they print (tests/docs/run_page.py,
#                     a few seconds)
# Both are part of make test.
.PHONY: path-check run-check

PYTHON ?= python3

path-check:
	$(PYTHON) tests/docs/core_path.py

run-check: deps
	$(PYTHON) tests/docs/run_page.py
