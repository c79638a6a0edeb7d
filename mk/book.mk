# The book: docs/ (English) and docs/ko/ (Korean) built with mdBook. Included by the Makefile.
#   make book         both languages into build/book/ko/ and build/book/en/; open
#                     build/book/index.html (it sends the browser to ko/, the default) from file://
#   make book-check   every page of both languages in headless Chromium: links, images, anchors,
#                     console errors, the language switch, search (tests/docs/book_check.py)
# The configuration is docs/book.toml and docs/ko/book.toml; the table of contents docs/SUMMARY.md
# and docs/ko/SUMMARY.md; the language switch and code tabs docs/theme/book-extra.{js,css}.
# Images shared by both languages (docs/img/, docs/*.svg) are copied beside ko/ and en/, so a
# Korean page's ../img/NAME.ko.svg resolves in the built book as it does in docs/.
.PHONY: book book-check

MDBOOK  ?= mdbook
PYTHON  ?= python3
# The browser check imports Debian's python3-selenium: the system interpreter, not a pyenv one.
BOOK_PYTHON ?= /usr/bin/python3
BOOK    := build/book

book: book-deps
	rm -rf $(BOOK) && mkdir -p $(BOOK)
	@# mdBook reports some errors (a bad include, a bad config key) and still exits 0: fail on them.
	$(MDBOOK) build docs -d $(CURDIR)/$(BOOK)/en 2>&1 | tee $(BOOK)/en.log
	$(MDBOOK) build docs/ko -d $(CURDIR)/$(BOOK)/ko 2>&1 | tee $(BOOK)/ko.log
	@! grep -E 'ERROR|WARN' $(BOOK)/en.log $(BOOK)/ko.log
	rm -rf $(BOOK)/en/ko $(BOOK)/en/theme/book-extra.js $(BOOK)/en/theme/book-extra.css $(BOOK)/*/book.toml
	mkdir -p $(BOOK)/img && cp -r docs/img/. $(BOOK)/img/ && cp docs/*.svg $(BOOK)/
	$(PYTHON) tests/docs/book_links.py $(BOOK)
	printf '%s\n' '<!DOCTYPE html>' '<html lang="ko"><head><meta charset="utf-8">' \
	  '<meta http-equiv="refresh" content="0; url=ko/index.html">' \
	  '<title>TCP 소켓 프로그래밍</title></head>' \
	  '<body><p><a href="ko/index.html">한국어</a> · <a href="en/index.html">English</a></p></body></html>' \
	  > $(BOOK)/index.html
	@echo "book: $$(find $(BOOK)/ko -name '*.html' | wc -l) Korean and $$(find $(BOOK)/en -name '*.html' | wc -l) English HTML files; open $(BOOK)/index.html"

book-check: book
	$(BOOK_PYTHON) tests/docs/book_check.py $(BOOK)

# mdBook (cargo install, pinned) and the browser check's Chromium, its driver, Selenium, a Korean
# font and an emoji font (the chapter's step headings carry a ⭐) (Debian). Each installed only
# when missing.
MDBOOK_VERSION := 0.5.4
BOOK_DEPS := chromium:chromium chromedriver:chromium-driver
book-deps:
	@command -v $(MDBOOK) >/dev/null 2>&1 && $(MDBOOK) --version | grep -q "v$(MDBOOK_VERSION)" || \
	  $(CARGO) install mdbook --locked --version $(MDBOOK_VERSION)
	@missing=""; \
	for p in $(BOOK_DEPS); do command -v $${p%%:*} >/dev/null 2>&1 || missing="$$missing $${p#*:}"; done; \
	$(BOOK_PYTHON) -c 'import selenium' 2>/dev/null || missing="$$missing python3-selenium"; \
	fc-list 2>/dev/null | grep -q 'Noto Sans CJK' || missing="$$missing fonts-noto-cjk"; \
	fc-list 2>/dev/null | grep -q 'Noto Color Emoji' || missing="$$missing fonts-noto-color-emoji"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
.PHONY: book-deps

# make deps installs what the book needs too.
deps: book-deps
