"""Plain text of an HTML body, for the mails that come without a text/plain part."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from mailbot.textmail.text import quoted

_BLOCK_TAGS = frozenset({
    "p", "div", "br", "tr", "li", "ul", "ol", "table", "blockquote", "pre", "hr", "dt", "dd",
    "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header", "footer", "address",
})
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "template"})
_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")


class _HtmlText(HTMLParser):
    """Text of an HTML body: blocks become lines, <blockquote> becomes `> ` quoting."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._current: list[str] = []
        self._quote = 0
        self._pre = 0
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip += 1
            return
        if tag in _BLOCK_TAGS:
            self._newline()
        if tag == "blockquote":
            self._quote += 1
        elif tag == "pre":
            self._pre += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self._newline()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skip = max(0, self._skip - 1)
            return
        if tag in _BLOCK_TAGS and tag != "br":
            self._newline()
        if tag == "blockquote":
            self._quote = max(0, self._quote - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            first, *rest = data.split("\n")
            self._current.append(first)
            for line in rest:
                self._newline()
                self._current.append(line)
        else:
            self._current.append(_HTML_SPACE.sub(" ", data))

    def close(self) -> None:
        super().close()
        self._newline()

    def _newline(self) -> None:
        joined = "".join(self._current)
        line = joined.rstrip(" ") if self._pre else joined.strip(" ")
        self._current = []
        self.lines.append(quoted(self._quote, line) if line else "")


def html_to_text(markup: str) -> str:
    """Plain text of an HTML body, good enough for <p>/<br>/<div> mails."""
    parser = _HtmlText()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:
        # html.parser is lenient, but a crash must not lose the mail: strip tags crudely.
        return re.sub(r"<[^>]*>", " ", markup)
    text = "\n".join(parser.lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")
