"""The one error the query language raises, with enough to point at the mistake in the editor."""

from __future__ import annotations

import unicodedata


def _width(char: str) -> int:
    """Columns `char` takes in a monospaced rendering, so the caret lines up under CJK text too."""
    if unicodedata.combining(char) or unicodedata.category(char) in ("Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


class QuerySyntaxError(ValueError):
    """A query that cannot be parsed. `position` is the 0-based character offset of the mistake in
    `expression` (it may equal `len(expression)` when something is missing at the end) and `message`
    says what is wrong in words a communications team can act on."""

    def __init__(self, message: str, position: int, expression: str) -> None:
        super().__init__(f"{message} (at character {position})")
        self.message = message
        self.position = position
        self.expression = expression

    def render(self, width: int = 80) -> str:
        """The query on one line with a caret under the mistake, cut to about `width` columns around
        it for long queries, e.g.::

            acme AND (outage OR down
                                    ^
        """
        # Line breaks and tabs would break the caret's alignment: show every control character as a
        # space (one column, like the character it replaces in the offsets).
        shown = "".join(" " if unicodedata.category(c) == "Cc" else c for c in self.expression)
        start, end = self.position, self.position
        used = 1  # the caret itself, which may sit one past the end
        # Grow the window alternately left and right around the position until it is `width` wide.
        while used < width and (start > 0 or end < len(shown)):
            if start > 0 and (end >= len(shown) or self.position - start <= end - self.position):
                start -= 1
                used += _width(shown[start])
            else:
                used += _width(shown[end])
                end += 1
        prefix = "…" if start > 0 else ""
        suffix = "…" if end < len(shown) else ""
        indent = len(prefix) + sum(_width(c) for c in shown[start : self.position])
        return f"{prefix}{shown[start:end]}{suffix}\n{' ' * indent}^"
