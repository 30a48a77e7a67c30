"""HTML: the text a reader would see, with the standard library's parser.

Scripts, styles and templates are not text anyone reads, so they stay out of the
search index. Block elements break lines; inline ones do not.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

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


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self.metadata: dict[str, str] = {}
        self._hidden = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag == "meta":
            found = dict(attrs)
            key = _META_NAMES.get((found.get("name") or "").lower())
            if key and found.get("content"):
                self.metadata[key] = found["content"] or ""
        elif tag == "html":
            lang = dict(attrs).get("lang")
            if lang:
                self.metadata["language"] = lang
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag in _CELLS:
            self.parts.append("\t")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <meta ... />: never opens anything that needs closing.
        if tag not in _HIDDEN:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._hidden:
            self.parts.append(data)


def read(html: str) -> Content:
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parser.parts).split("\n"))
    text = "\n".join(line for line in lines if line)
    title = " ".join("".join(parser.title).split())
    return Content(text=text, metadata={"title": title, **parser.metadata})
