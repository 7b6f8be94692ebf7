#!/usr/bin/env python3
"""report_dom.py - checks a case report as a browser parsed it (chromium --dump-dom).

Usage: report_dom.py DOM.html VERDICT.json [--placed] [--text STRING]...

- only the elements and attributes the renderer writes are present (so no
  injected element or attribute survived), every href is a fragment of the page,
  and ids are unique;
- every finding of the verdict is an <article id="f-N"> whose evidence links
  (one per evidence span, in order) lead to a <mark> with that id in the DOM;
- with --placed, every such mark lies in the request text (dl.req), i.e. the
  span was highlighted in place, not only quoted;
- each --text STRING occurs in the page's text (hostile input shown as text).
Prints one line per problem and exits 1 if there is any.
"""
import json
import sys
from html.parser import HTMLParser

TAGS = {"html", "head", "meta", "title", "style", "body", "header", "p", "h1", "h2", "h3", "h4",
        "dl", "dt", "dd", "nav", "a", "main", "section", "ol", "ul", "li", "article", "strong",
        "em", "small", "code", "span", "mark", "sup", "table", "caption", "thead", "tbody", "tr",
        "th", "td", "br", "footer"}
ATTRS = {"id", "class", "href", "title", "aria-label", "aria-labelledby", "role", "lang",
         "charset", "http-equiv", "content", "name", "scope"}
VOID = {"meta", "br"}


class Dom(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []          # (tag, attrs) of open elements
        self.elements = []       # (tag, attrs, ancestors' (tag, attrs))
        self.text = []
        self.problems = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag not in TAGS:
            self.problems.append("unexpected element <%s %s>" % (tag, a))
        for k, v in attrs:
            if k not in ATTRS:
                self.problems.append("unexpected attribute %s=%r on <%s>" % (k, v, tag))
        if "href" in a and not (a["href"] or "").startswith("#"):
            self.problems.append("link out of the page: %r" % a["href"])
        self.elements.append((tag, a, list(self.stack)))
        if tag not in VOID:
            self.stack.append((tag, a))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        if not any(t in ("style", "title") for t, _ in self.stack):
            self.text.append(data)


def main():
    args = sys.argv[1:]
    placed = "--placed" in args
    texts = [args[i + 1] for i, a in enumerate(args) if a == "--text"]
    dom = Dom()
    dom.feed(open(args[0], encoding="utf-8").read())
    verdict = json.load(open(args[1], encoding="utf-8"))
    problems = dom.problems
    by_id = {}
    for tag, a, anc in dom.elements:
        if "id" in a:
            if a["id"] in by_id:
                problems.append("duplicate id %s" % a["id"])
            by_id[a["id"]] = (tag, a, anc)
    findings = verdict.get("findings", [])
    for n, f in enumerate(findings, 1):
        art = by_id.get("f-%d" % n)
        if not art or art[0] != "article":
            problems.append("finding %d has no <article id=f-%d>" % (n, n))
            continue
        links = [a["href"][1:] for tag, a, anc in dom.elements
                 if tag == "a" and a.get("href", "").startswith("#ev-")
                 and any(t == "article" and x.get("id") == "f-%d" % n for t, x in anc)]
        want = ["ev-%d-%d" % (n, e) for e in range(1, len(f.get("evidence", [])) + 1)]
        if links != want:
            problems.append("finding %d links to %s, expected %s" % (n, links, want))
        for target in want:
            t = by_id.get(target)
            if not t or t[0] != "mark":
                problems.append("finding %d: #%s is not a <mark> in the DOM" % (n, target))
            elif placed and not any(tg == "dl" and "req" in x.get("class", "") for tg, x in t[2]):
                problems.append("finding %d: #%s is not placed in the request text" % (n, target))
    page = "".join(dom.text)
    for t in texts:
        if t not in page:
            problems.append("text %r not shown" % t)
    for p in problems:
        print("report_dom: %s: %s" % (args[0], p))
    print("report_dom: %s: %d findings, %d evidence links checked, %d problems" %
          (args[0], len(findings), sum(len(f.get("evidence", [])) for f in findings), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
