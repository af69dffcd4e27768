"""The parsed form of a query: an immutable tree that evaluates itself against a `Document` and prints
itself in canonical query syntax (`parse(str(q)) == q`).

The canonical form writes only the parentheses the grammar needs (`a AND b OR c`, `NOT a NEAR/3 b`).
Every one of them stands for a parenthesis in the typed query, so the canonical form is never nested
deeper than the original and always passes the depth limit again.

Nodes compare structurally, so equal queries are equal however they were typed. Terms hold folded
tokens (see `text.tokenize`), never the user's raw spelling.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Literal

from listening.querylang.text import Document

# A bare term equal to one of these would read as an operator (or, in lower case, is refused as a
# probable typo for one), so the canonical form quotes it.
_OPERATOR_WORDS = frozenset({"and", "or", "not"})

FieldName = Literal["author", "lang", "source"]
Span = tuple[int, int]  # first and last token position of an occurrence


@dataclass(frozen=True, slots=True)
class Term:
    """One token: `acme`, `#acme` or `@acme`. A plain word also matches its hashtag."""

    key: str

    def matches(self, doc: Document) -> bool:
        return self.key in doc.index

    def spans(self, doc: Document) -> list[Span]:
        return [(p, p) for p in doc.index.get(self.key, ())]

    def __str__(self) -> str:
        return f'"{self.key}"' if self.key in _OPERATOR_WORDS else self.key


@dataclass(frozen=True, slots=True)
class Phrase:
    """Consecutive tokens, in order; punctuation between them in the text does not matter because it
    never becomes a token."""

    keys: tuple[str, ...]

    def _starts(self, doc: Document) -> list[int]:
        first, *rest = self.keys
        if any(key not in doc.index for key in rest):
            return []  # cheap rejection before walking positions
        starts = list(doc.index.get(first, ()))
        tokens = doc.tokens
        for offset, key in enumerate(rest, start=1):
            # The tokens that satisfy `key` at a position: itself and, for a plain word, its hashtag.
            accepted = {key} if key[0] in "#@" else {key, "#" + key}
            last_start = len(tokens) - offset
            # Filtering the surviving candidates shrinks fast on real text; the cost is bounded by
            # (occurrences of the first token) x (phrase length) even on hostile input.
            starts = [p for p in starts if p < last_start and tokens[p + offset] in accepted]
            if not starts:
                break
        return starts

    def matches(self, doc: Document) -> bool:
        return bool(self._starts(doc))

    def spans(self, doc: Document) -> list[Span]:
        last = len(self.keys) - 1
        return [(p, p + last) for p in self._starts(doc)]

    def __str__(self) -> str:
        return '"' + " ".join(self.keys) + '"'


@dataclass(frozen=True, slots=True)
class Prefix:
    """A wildcard `outag*`: any token starting with `prefix`. `#acm*` and `@acm*` stay within hashtags
    and mentions; a plain prefix also matches hashtags, like a plain term."""

    prefix: str

    def _keys(self, doc: Document) -> list[str]:
        # The sorted keys put every key with this prefix in one run starting at the bisection point.
        # Plain keys never start with # or @, so a plain prefix cannot reach hashtag or mention keys
        # (the plain form of each hashtag is indexed as its own key).
        keys = doc.keys
        found = []
        for i in range(bisect_left(keys, self.prefix), len(keys)):
            if not keys[i].startswith(self.prefix):
                break
            found.append(keys[i])
        return found

    def matches(self, doc: Document) -> bool:
        keys = doc.keys
        i = bisect_left(keys, self.prefix)
        return i < len(keys) and keys[i].startswith(self.prefix)

    def spans(self, doc: Document) -> list[Span]:
        return [(p, p) for key in self._keys(doc) for p in doc.index[key]]

    def __str__(self) -> str:
        return self.prefix + "*"


Leaf = Term | Phrase | Prefix


def _group(options: tuple[Leaf, ...]) -> str:
    return str(options[0]) if len(options) == 1 else "(" + " OR ".join(map(str, options)) + ")"


@dataclass(frozen=True, slots=True)
class Near:
    """`left NEAR/n right`: an occurrence of one of `left` and one of `right`, in either order, with at
    most `distance` tokens between them (Brandwatch's reading: NEAR/0 is adjacent). Occurrences that
    overlap (a phrase and one of its own words) do not count."""

    left: tuple[Leaf, ...]
    right: tuple[Leaf, ...]
    distance: int

    def matches(self, doc: Document) -> bool:
        lefts = [span for leaf in self.left for span in leaf.spans(doc)]
        if not lefts:
            return False
        rights = [span for leaf in self.right for span in leaf.spans(doc)]
        if not rights:
            return False
        # For each left occurrence, the nearest right one after it is the one with the smallest start
        # beyond its end, and the nearest before it the one with the largest end before its start: two
        # bisections, so long documents with many occurrences stay O(n log n), not O(n * m).
        starts = sorted(s for s, _ in rights)
        ends = sorted(e for _, e in rights)
        gap = self.distance + 1
        for start, end in lefts:
            after = bisect_right(starts, end)
            if after < len(starts) and starts[after] - end <= gap:
                return True
            before = bisect_left(ends, start)
            if before and start - ends[before - 1] <= gap:
                return True
        return False

    def __str__(self) -> str:
        return f"{_group(self.left)} NEAR/{self.distance} {_group(self.right)}"


@dataclass(frozen=True, slots=True)
class Field:
    """A filter on the mention's metadata rather than its text; `value` is normalized as the matching
    `Document` field is (see `text.normalize_*`)."""

    name: FieldName
    value: str

    def matches(self, doc: Document) -> bool:
        if self.name == "author":
            # A Mastodon account `user@instance` is also found by `author:user`.
            return doc.author_handle == self.value or doc.author_handle.startswith(self.value + "@")
        if self.name == "lang":
            return doc.lang == self.value
        return self.value in (doc.source_name, doc.source_kind)

    def __str__(self) -> str:
        if not self.value or any(c.isspace() or c in '()"' for c in self.value):
            return f'{self.name}:"{self.value}"'
        return f"{self.name}:{self.value}"


@dataclass(frozen=True, slots=True)
class Not:
    child: Node

    def matches(self, doc: Document) -> bool:
        return not self.child.matches(doc)

    def __str__(self) -> str:
        return f"NOT ({self.child})" if isinstance(self.child, And | Or) else f"NOT {self.child}"


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Node, ...]  # two or more, none of them an And (see `conjoin`)

    def matches(self, doc: Document) -> bool:
        return all(child.matches(doc) for child in self.children)

    def __str__(self) -> str:
        return " AND ".join(f"({c})" if isinstance(c, Or) else str(c) for c in self.children)


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Node, ...]  # two or more, none of them an Or (see `disjoin`)

    def matches(self, doc: Document) -> bool:
        return any(child.matches(doc) for child in self.children)

    def __str__(self) -> str:
        return " OR ".join(map(str, self.children))


Node = Term | Phrase | Prefix | Near | Field | Not | And | Or


def conjoin(nodes: list[Node]) -> Node:
    """AND of `nodes`, flattened, so that grouping never changes the tree: `a (b c)` equals `a b c`."""
    flat = tuple(n for node in nodes for n in (node.children if isinstance(node, And) else (node,)))
    return flat[0] if len(flat) == 1 else And(flat)


def disjoin(nodes: list[Node]) -> Node:
    """OR of `nodes`, flattened like `conjoin`."""
    flat = tuple(n for node in nodes for n in (node.children if isinstance(node, Or) else (node,)))
    return flat[0] if len(flat) == 1 else Or(flat)


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query (from `parse`). Equal queries compare equal; `str()` is the canonical form, and
    `parse(str(q)) == q`. The canonical text can be longer than what was typed (`-a` is `NOT a`), so a
    query typed close to `MAX_LENGTH` may have a canonical form over it: store what the user typed."""

    root: Node

    def matches(self, doc: Document) -> bool:
        return self.root.matches(doc)

    @property
    def terms(self) -> tuple[Leaf, ...]:
        """The words, phrases and wildcards the query looks for (not those it excludes), in query order
        without repeats: what a highlighter should mark in a matching mention."""
        found: dict[Leaf, None] = {}

        def walk(node: Node, negated: bool) -> None:
            match node:
                case Term() | Phrase() | Prefix():
                    if not negated:
                        found.setdefault(node)
                case Near():
                    for leaf in (*node.left, *node.right):
                        walk(leaf, negated)
                case Not():
                    walk(node.child, not negated)
                case And() | Or():
                    for child in node.children:
                        walk(child, negated)

        walk(self.root, negated=False)
        return tuple(found)

    def __str__(self) -> str:
        return str(self.root)
