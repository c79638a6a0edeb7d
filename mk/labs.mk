# The labs: write each chapter function yourself, in C or in Rust, checked by the project's
# tests (docs/labs.md). Included by the Makefile (-include mk/*.mk).
#   make lab                                  the 14 labs in order, each one's state now (done =
#                                             your code passes as it is), the core track marked
#   make lab-start LAB=function LANG=c|rust   the function's body in c_reference/ or src/
#                                             becomes a skeleton: its steps' comments, a TODO each
#   make lab-check LAB=function LANG=c|rust   its twin tests, its scenarios and their system calls
#                                             against the reference's: a line per step, a hint
#                                             for the first that fails; exit 0 when all pass
#   make lab-watch LAB=function LANG=c|rust   lab-check on every save of the file
#   make lab-solution LAB=function LANG=c|rust  the reference back; the attempt kept in build/labs/
#   make lab-reset                            lab-solution for every lab in progress
#   make labs-check                           every lab: the reference passes its check, the
#                                             skeleton fails it, and each of the labs' own wrong
#                                             answers (tests/labs/wrong.toml, at least one per
#                                             step and language) fails at its own step; all built
#                                             once in one variant tree; the working tree is left
#                                             as found, no process outlives it (part of make test)
#   make labs-validate                        the registry against the sources and docs (seconds)
# The registry is tests/labs/labs.toml, the wrong answers tests/labs/wrong.toml; the tool
# tests/labs/lab.py. Progress, the reference copies
# and the attempts are in build/labs/ (make clean keeps it); builds in build/lab-work/.
.PHONY: lab lab-start lab-check lab-watch lab-solution lab-reset labs-check labs-validate lab-args

PYTHON ?= python3
LAB    ?=
# LANG=c|rust on the command line replaces the locale variable of the same name in the
# environment of every recipe; the tool runs with a locale that exists, and UTF-8 for Korean.
LAB_TOOL = LANG=C.UTF-8 $(PYTHON) tests/labs/lab.py

lab:
	@$(LAB_TOOL) list

lab-args:
	@test -n "$(LAB)" || { echo "usage: make $(MAKECMDGOALS) LAB=function LANG=c|rust (make lab lists them)"; exit 2; }
	@case "$(LANG)" in c|rust) ;; *) \
	  if [ "$(origin LANG)" = "command line" ]; then \
	    echo "LANG must be c or rust, not '$(LANG)'"; \
	  else \
	    echo "the lab's language is missing: add LANG=c or LANG=rust$(if $(LANG), (LANG=$(LANG) here is your locale))"; \
	  fi; exit 2;; esac

lab-start: lab-args
	@$(LAB_TOOL) start $(LAB) $(LANG)

lab-check: lab-args deps
	@$(LAB_TOOL) check $(LAB) $(LANG)

lab-watch: lab-args deps
	@$(LAB_TOOL) watch $(LAB) $(LANG)

lab-solution: lab-args
	@$(LAB_TOOL) solution $(LAB) $(LANG)

lab-reset:
	@$(LAB_TOOL) reset

labs-check: deps
	$(LAB_TOOL) prove

labs-validate:
	$(LAB_TOOL) validate
