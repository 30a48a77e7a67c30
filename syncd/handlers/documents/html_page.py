"""HTML: the text a reader would see, through libxml2's HTML parser (lxml).

Scripts, styles and templates are not text anyone reads, so they stay out of the
search index. Block elements break lines; inline ones do not.

libxml2, not the standard library's html.parser: that one takes quadratic time on
some input (CVE-2025-6069; 4 MB of `<!` used up a whole timeout per attempt), and
libxml2 reads any input in one pass. Its events go straight to `_VisibleText`, so
no tree is built either.
"""

from __future__ import annotations

import re

from lxml import etree

from syncd.handlers.documents.file_to_text import Content

# Not <head>: its end tag is optional, and what it holds that shows (the title) is kept.
_HIDDEN = {"script", "style", "template", "noscript"}
_BLOCKS = {
    "address", "article", "aside", "blockquote", "br", "dd", "details", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table",
    "tr", "ul", "caption", "tbody", "thead", "tfoot",
}  # fmt: skip
_CELLS = {"td", "th"}
_META_NAMES = {"author": "author", "description": "description", "keywords": "keywords"}
_SPACES = re.compile(r"[ \t\r\f\v]+")


class _VisibleText:
    """The parser's target: it hears each start tag, end tag and run of text."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.title: list[str] = []
        self.metadata: dict[str, str] = {}
        self._hidden = 0
        self._in_title = False

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "meta":
            key = _META_NAMES.get((attrs.get("name") or "").lower())
            if key and attrs.get("content"):
                self.metadata[key] = attrs["content"]
        elif tag == "html":
            lang = attrs.get("lang")
            if lang:
                self.metadata["language"] = lang
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag in _CELLS:
            self.parts.append("\t")

    def end(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._hidden:
            self.parts.append(data)

    def close(self) -> None:
        pass


def read(html: str) -> Content:
    found = _VisibleText()
    # The text is already decoded (detect.py chose the encoding): handing libxml2 UTF-8
    # and saying so keeps a <meta charset> or an XML declaration from overriding it.
    parser = etree.HTMLParser(target=found, encoding="utf-8")
    parser.feed(html.encode("utf-8", "replace"))
    parser.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(found.parts).split("\n"))
    text = "\n".join(line for line in lines if line)
    title = " ".join("".join(found.title).split())
    return Content(text=text, metadata={"title": title, **found.metadata})
