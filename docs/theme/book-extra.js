// Extras of the tcp-chapter book (both languages), loaded on every page; no network.
//  1. The language switch: a link in the menu bar to the same page in the other language
//     (build/book/ko/X.html <-> build/book/en/X.html), kept with its #anchor; works from file://.
//  2. Search in Korean: mdBook's index (elasticlunr-rs with its English pipeline) trims every
//     character outside [0-9a-z_] from the ends of a word, so a Korean word never enters it. For
//     a query with Hangul in it, the search runs over the section texts the index stores for its
//     teasers instead: every word of the query must occur in the section, as a substring, so
//     백로그 also finds 백로그는 and 백로그가 (Korean attaches particles to the word).
//  3. Code tabs: <div class="code-tabs" data-labels="Chapter|C|Rust"> around code blocks shows
//     one block at a time with a tab per label (without JavaScript the blocks simply follow).
(function () {
    "use strict";

    function languageSwitch() {
        var lang = (document.documentElement.lang || "ko").slice(0, 2);
        var other = lang === "ko" ? "en" : "ko";
        var root = new URL((typeof path_to_root === "string" && path_to_root) || "./", window.location.href);
        var here = window.location.href.split("#")[0].split("?")[0];
        var rel = here.indexOf(root.href) === 0 ? here.slice(root.href.length) : "";
        if (rel === "" || rel.slice(-1) === "/") rel += "index.html";
        var target = new URL("../" + other + "/" + rel, root.href);
        var link = document.createElement("a");
        link.className = "lang-switch";
        link.id = "lang-switch";
        link.href = target.href;
        link.hreflang = other;
        link.lang = other;
        link.title = other === "en" ? "English version of this page" : "이 쪽의 한국어판";
        link.setAttribute("aria-label", link.title);
        link.textContent = other === "en" ? "English" : "한국어";
        link.addEventListener("click", function () {
            link.href = target.href.split("#")[0] + window.location.hash;
        });
        var bar = document.querySelector(".right-buttons") || document.querySelector("#menu-bar");
        if (bar) bar.insertBefore(link, bar.firstChild);
    }

    var HANGUL = /[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]/;

    function koreanSearch() {
        if (typeof elasticlunr === "undefined" || elasticlunr.Index.__koreanSearch) return;
        var load = elasticlunr.Index.load;
        elasticlunr.Index.load = function (serialised) {
            var index = load.call(this, serialised);
            var english = index.search.bind(index);
            index.search = function (query, options) {
                if (!HANGUL.test(query)) return english(query, options);
                var words = query.toLowerCase().split(/\s+/).filter(Boolean);
                var docs = index.documentStore.docs, found = [];
                Object.keys(docs).forEach(function (ref) {
                    var d = docs[ref];
                    var title = String(d.title || "").toLowerCase();
                    var text = title + "\n" + String(d.breadcrumbs || "").toLowerCase() + "\n" +
                        String(d.body || "").toLowerCase();
                    var score = 0;
                    for (var i = 0; i < words.length; i++) {
                        var n = text.split(words[i]).length - 1;
                        if (n === 0) return;
                        score += n + (title.indexOf(words[i]) >= 0 ? 5 : 0);
                    }
                    found.push({ ref: ref, score: score, doc: d });
                });
                return found.sort(function (a, b) { return b.score - a.score; });
            };
            return index;
        };
        elasticlunr.Index.__koreanSearch = true;
    }

    function codeTabs() {
        var groups = document.querySelectorAll("div.code-tabs");
        Array.prototype.forEach.call(groups, function (group, g) {
            var labels = (group.getAttribute("data-labels") || "").split("|");
            var panes = Array.prototype.filter.call(group.children, function (c) {
                return c.tagName === "PRE" || c.querySelector("pre");
            });
            if (panes.length < 2) return;
            var bar = document.createElement("div");
            bar.className = "code-tabs-bar";
            bar.setAttribute("role", "tablist");
            var buttons = panes.map(function (pane, i) {
                var b = document.createElement("button");
                b.type = "button";
                b.setAttribute("role", "tab");
                b.textContent = labels[i] || String(i + 1);
                b.addEventListener("click", function () { show(i); });
                bar.appendChild(b);
                return b;
            });
            function show(k) {
                panes.forEach(function (p, i) { p.style.display = i === k ? "" : "none"; });
                buttons.forEach(function (b, i) {
                    b.classList.toggle("active", i === k);
                    b.setAttribute("aria-selected", i === k ? "true" : "false");
                });
            }
            group.insertBefore(bar, group.firstChild);
            group.classList.add("code-tabs-on");
            show(0);
        });
    }

    function ready(f) {
        if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", f);
        else f();
    }
    koreanSearch();
    ready(function () { languageSwitch(); codeTabs(); });
})();
