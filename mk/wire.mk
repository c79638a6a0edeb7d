# See it on the wire. Included by the Makefile (-include mk/*.mk).
#   make wire                            the lessons (docs/wire.md)
#   make wire LESSON=name [IMPL=chapter|c|rust]
#                                        run one lesson while tcpdump captures its loopback packets
#                                        and strace traces its programs; print one timeline: calls,
#                                        packets (tcpdump's text, each tied to the call that sent it)
#                                        and TCP states. English or Korean as make demo chooses
#                                        (DEMO_LANG=en|ko, or a ko* locale). Needs root.
#   make wire-check                      each lesson's point asserted on its capture, chapter, C and
#                                        Rust (ignored, with the reason, where capture is impossible)
#   make diagram                         docs/img/session.en.svg and session.ko.svg: lesson
#                                        echo_session drawn as a sequence diagram from its capture
# The tools are tests/wire/*.py; they parse captures with dpkt (Debian's python3-dpkt), so they
# run under the system's python3 (WIRE_PYTHON), where apt installs it.
.PHONY: wire wire-check wire-deps wire-dpkt diagram

WIRE_PYTHON ?= /usr/bin/python3
LESSON      ?=

# make deps installs Debian's python3-dpkt (the pcap reader) too; wire-deps is the same.
wire-deps: deps
deps: wire-dpkt
wire-dpkt:
	@$(WIRE_PYTHON) -c 'import dpkt' 2>/dev/null || { \
	  echo "installing: python3-dpkt"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-dpkt; }

wire: all wire-deps
	@if [ -z "$(LESSON)" ]; then $(WIRE_PYTHON) tests/wire/wire.py list; \
	else $(WIRE_PYTHON) tests/wire/wire.py run $(LESSON) --impl $(or $(IMPL),c); fi

wire-check: all wire-deps
	$(WIRE_PYTHON) tests/wire/wire_check.py

diagram: all wire-deps
	$(WIRE_PYTHON) tests/wire/diagram.py --impl $(or $(IMPL),c)
