#!/usr/bin/env python3
"""The built book (make book) in a real browser: every page of both languages opened from
file:// in headless Chromium (Debian's chromium and chromium-driver, driven by Selenium).

Checked on every page:
* no console error (a script that fails, a resource that does not load);
* nothing fetched from the network: every resource the page loaded is a file: URL;
* every link to a file resolves (a page of the book or a file of the repository), and every
  #anchor names an element of its target page;
* every image loaded (naturalWidth > 0);
* the language switch (#lang-switch) leads to the same page in the other language, which exists.
Then, in the browser: clicking the switch on a page with an #anchor keeps the page and the anchor,
a click on a code tab shows its block (chapter | our C | Rust), and the search box finds 백로그 and
리스닝 소켓 in Korean and TIME_WAIT in both languages.

Usage: tests/docs/book_check.py [BOOK_DIR]   (default build/book; make book-check builds it first)
Prints the counts (pages, links, anchors, images) and the time; exit 0 when all is well, 1 otherwise.
"""
import os
import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LANGS = ("ko", "en")
SKIP_PAGES = {"toc.html", "404.html"}  # mdBook's sidebar frame and not-found page
SEARCHES = (("ko", "백로그"), ("ko", "리스닝 소켓"), ("ko", "TIME_WAIT"), ("en", "TIME_WAIT"),
            ("en", "backlog"))

PAGE_FACTS = """
const out = {links: [], images: [], ids: [], resources: [], switch: null};
document.querySelectorAll('a[href]').forEach(a => {
    if (a.closest('#mdbook-sidebar, .sidebar, #sidebar')) return;   // the same on every page
    out.links.push(a.href);
});
document.querySelectorAll('img').forEach(i => out.images.push([i.src, i.complete && i.naturalWidth > 0]));
document.querySelectorAll('[id]').forEach(e => out.ids.push(e.id));
document.querySelectorAll('a[name]').forEach(e => out.ids.push(e.name));
performance.getEntriesByType('resource').forEach(r => out.resources.push(r.name));
const s = document.getElementById('lang-switch');
out.switch = s ? s.href : null;
return out;
"""


def driver():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,900", "--lang=ko-KR"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def file_path(url):
    """The local path of a file: URL (None for any other scheme), and its #fragment."""
    p = urllib.parse.urlsplit(url)
    if p.scheme != "file":
        return None, None
    return urllib.parse.unquote(p.path), urllib.parse.unquote(p.fragment)


def wait_loaded(d):
    WebDriverWait(d, 10).until(lambda x: x.execute_script("return document.readyState") == "complete")


def main(argv):
    book = os.path.abspath(argv[0] if argv else os.path.join(ROOT, "build", "book"))
    pages = []
    for lang in LANGS:
        for dirpath, _, names in os.walk(os.path.join(book, lang)):
            pages += [os.path.join(dirpath, n) for n in sorted(names)
                      if n.endswith(".html") and not (dirpath == os.path.join(book, lang) and n in SKIP_PAGES)]
    if not pages:
        print(f"book_check: no pages under {book} (make book)")
        return 1
    problems, ids, links, images = [], {}, [], 0
    start = time.monotonic()
    d = driver()
    try:
        for page in pages:
            rel = os.path.relpath(page, book)
            d.get("file://" + page)
            wait_loaded(d)
            facts = d.execute_script(PAGE_FACTS)
            for entry in d.get_log("browser"):
                if entry.get("level") == "SEVERE":
                    problems.append(f"{rel}: console error: {entry.get('message')}")
            for r in facts["resources"]:
                if not r.startswith("file:"):
                    problems.append(f"{rel}: fetched from the network: {r}")
            for src, ok in facts["images"]:
                images += 1
                if not ok:
                    problems.append(f"{rel}: image did not load: {src}")
            ids[page] = set(facts["ids"])
            links += [(rel, href) for href in facts["links"]]
            sw = facts["switch"]
            lang = rel.split(os.sep)[0]
            other = "en" if lang == "ko" else "ko"
            want = os.path.join(book, other, os.path.relpath(page, os.path.join(book, lang)))
            got, _ = file_path(sw) if sw else (None, None)
            if got is None:
                problems.append(f"{rel}: no language switch")
            elif os.path.normpath(got) != want:
                problems.append(f"{rel}: the language switch leads to {got}, not {want}")
            elif not os.path.isfile(want):
                problems.append(f"{rel}: the language switch leads to {want}, which does not exist")

        anchors = 0
        checked = set()
        for rel, href in links:
            path, frag = file_path(href)
            if path is None or (path, frag) in checked:
                continue
            checked.add((path, frag))
            if not os.path.exists(path):
                problems.append(f"{rel}: broken link {href}")
                continue
            if frag:
                anchors += 1
                target = ids.get(path)
                if target is None and path.endswith(".html"):
                    continue  # a page outside the book's two languages (none today)
                if target is not None and frag not in target:
                    problems.append(f"{rel}: link {href}: no element #{frag} in {os.path.relpath(path, book)}")

        # The switch, clicked, keeps the page and its anchor.
        for lang in LANGS:
            other = "en" if lang == "ko" else "ko"
            page = os.path.join(book, lang, "pitfalls.html")
            frag = next((i for i in sorted(ids.get(page, ())) if i[:1].isdigit()), None)
            d.get("file://" + page + (f"#{frag}" if frag else ""))
            wait_loaded(d)
            d.find_element(By.ID, "lang-switch").click()
            wait_loaded(d)
            path, got = file_path(d.current_url)
            if os.path.normpath(path) != os.path.join(book, other, "pitfalls.html") or (frag and got != frag):
                problems.append(f"{lang}/pitfalls.html#{frag}: the switch, clicked, went to {d.current_url}")

        # Code tabs: a click on a group's second tab shows its second block and hides the first.
        d.get("file://" + os.path.join(book, "ko", "core", "create_tcp_server.html"))
        wait_loaded(d)
        shown = d.execute_script("""
            const g = document.querySelector('div.code-tabs-on');
            if (!g) return null;
            g.querySelectorAll('.code-tabs-bar button')[1].click();
            const panes = Array.from(g.children).filter(c => c.tagName === 'PRE' || c.querySelector('pre'));
            return panes.map(p => p.offsetParent !== null);
        """)
        tabs = sum(1 for p in pages if "code-tabs" in open(p, encoding="utf-8").read())
        if shown != [False, True, False]:
            problems.append(f"ko/core/create_tcp_server.html: code tabs after a click on the second: {shown}")

        # Search, as a reader types it.
        searches = []
        for lang, word in SEARCHES:
            d.get("file://" + os.path.join(book, lang, "index.html"))
            wait_loaded(d)
            d.find_element(By.ID, "mdbook-search-toggle").click()
            box = WebDriverWait(d, 5).until(lambda x: x.find_element(By.ID, "mdbook-searchbar"))
            box.send_keys(word)
            try:
                WebDriverWait(d, 10).until(
                    lambda x: x.find_elements(By.CSS_SELECTOR, "#mdbook-searchresults li"))
                n = len(d.find_elements(By.CSS_SELECTOR, "#mdbook-searchresults li"))
            except TimeoutException:
                n = 0
            searches.append(f"{lang} '{word}' {n}")
            if n == 0:
                problems.append(f"{lang}: search finds nothing for '{word}'")
            for entry in d.get_log("browser"):
                if entry.get("level") == "SEVERE":
                    problems.append(f"{lang} search '{word}': console error: {entry.get('message')}")
    finally:
        d.quit()
    for p in problems:
        print(p)
    n_pages = {lang: sum(1 for p in pages if os.path.relpath(p, book).startswith(lang + os.sep)) for lang in LANGS}
    print(f"book_check: {n_pages['ko']} Korean + {n_pages['en']} English pages, {len(links)} links "
          f"({len(checked)} distinct targets, {anchors} with an anchor), {images} images, "
          f"{tabs} pages with code tabs, "
          f"search: {', '.join(searches)}; {time.monotonic() - start:.1f} s: "
          f"{'ok' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
