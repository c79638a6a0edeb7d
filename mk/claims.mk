# The chapter's claims, checked on this machine. Included by the Makefile (-include mk/*.mk).
#   make claims   every experiment of tests/claims/ (loopback only, kernel-chosen ports, each
#                 under ~20 s, about 2 min in all): each prints what it measured and a VERDICT
#                 line per claim of the chapter; docs/claims.md is the list. Fails when the kernel
#                 does not behave as that page says.
# CLAIMS_SLOW=1 also waits out the slow cases: TIME_WAIT's expiry (~60 s) and a blocking
# connect's give-up without a timeout (~130 s).
.PHONY: claims

PYTHON ?= python3
# buffer_size.py runs the C server built with BUFFER_SIZE 1024, 4096, 65536 (rule in bench.mk).
CLAIMS_BUILDS := $(foreach n,1024 4096 65536,build/bs$(n)/c/echo_server)

claims: c deps $(CLAIMS_BUILDS)
	PYTHON=$(PYTHON) bash tests/claims/run_all.sh
