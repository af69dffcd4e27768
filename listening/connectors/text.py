"""HTML to plain text for feed summaries and social posts: the text is what enrichment reads and
what the portal shows (always escaped there), so markup, scripts and styles are dropped."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from listening.connectors.items import MAX_TEXT, clean_string

# Markup beyond this is not parsed: html.parser is pure Python, and no post or summary worth
# keeping is longer (the text is cut to MAX_TEXT anyway).
MAX_HTML = 200_000
_BLOCKS = frozenset(
    {"p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "section", "article"}
)
_HIDDEN = frozenset({"script", "style", "template", "head", "title"})
_BLANK_LINES = re.compile(r"\n{3,}")


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(html: str, max_chars: int = MAX_TEXT) -> str:
    """Visible text of an HTML fragment, entities decoded, paragraphs kept as blank lines, other
    whitespace collapsed; storable (`clean_string`) and at most `max_chars` long."""
    parser = _Extractor()
    parser.feed(html[:MAX_HTML])
    parser.close()
    return plain_text("".join(parser.parts), max_chars)


def plain_text(text: str, max_chars: int = MAX_TEXT) -> str:
    """Text that is already plain (a `<` in it is a character, not a tag), with the same
    whitespace rules and limits as `html_to_text`."""
    lines = (" ".join(line.split()) for line in text[:MAX_HTML].split("\n"))
    return clean_string(_BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()[:max_chars])
