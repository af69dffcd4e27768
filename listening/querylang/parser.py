"""Lexer and recursive-descent parser for the query language (the grammar is in the package docstring).

The parser does all validation up front, so a `Query` it returns always evaluates without error, and
enforces the limits that keep a hostile query from costing much: its length (which bounds the lexing
work), the nesting depth (which bounds recursion, here and in evaluation) and the number of terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import get_args

from listening.querylang.errors import QuerySyntaxError
from listening.querylang.nodes import (
    And,
    Field,
    FieldName,
    Leaf,
    Near,
    Node,
    Not,
    Or,
    Phrase,
    Prefix,
    Query,
    Term,
    conjoin,
    disjoin,
)
from listening.querylang.text import normalize_handle, normalize_name, tokenize

MAX_LENGTH = 2_000  # characters; Brandwatch allows about 4,000 for a whole project's query
MAX_DEPTH = 20  # levels of parentheses and NOT
MAX_TERMS = 200  # words, phrases, wildcards and field filters
MAX_NEAR_DISTANCE = 100
MIN_PREFIX_LENGTH = 3  # characters before a wildcard: `a*` would match most of every text

_FIELDS: tuple[FieldName, ...] = get_args(FieldName)
_NEAR = re.compile(r"NEAR/([0-9]+)")
_FIELD = re.compile(r"([A-Za-z]+):(.*)")
_LANG = re.compile(r"[a-z]{2}")
_ONLY_NEAR = "NEAR/{} can only join words, phrases, wildcards and (... OR ...) groups of them"


@dataclass(frozen=True, slots=True)
class _Lexeme:
    kind: str  # one of ( ) AND OR NOT NEAR TERM PHRASE FIELD END
    text: str  # as typed, for messages; for PHRASE the text inside the quotes
    position: int
    distance: int = 0  # NEAR only
    field: Field | None = None  # FIELD only, validated while lexing so errors come in reading order


_OPERAND_STARTS = frozenset({"TERM", "PHRASE", "FIELD", "(", "NOT"})


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.lexemes = self._lex()
        self.at = 0
        self.terms = 0
        # Where each NOT was written, to point at a query that only excludes (nodes carry no positions:
        # they compare structurally).
        self.not_positions: dict[int, int] = {}

    def error(self, message: str, position: int) -> QuerySyntaxError:
        return QuerySyntaxError(message, position, self.expression)

    def too_deep(self, position: int) -> QuerySyntaxError:
        return self.error(
            f"The query is nested too deeply: at most {MAX_DEPTH} levels of ( and NOT", position
        )

    def unclosed(self, opening: _Lexeme) -> QuerySyntaxError:
        return self.error(
            f"Missing closing parenthesis for the one opened at character {opening.position + 1}",
            self.peek().position,
        )

    # Lexing -----------------------------------------------------------------------------------------

    def _lex(self) -> list[_Lexeme]:
        text, lexemes, i = self.expression, [], 0
        while i < len(text):
            char = text[i]
            if char.isspace():
                i += 1
            elif char in "()":
                lexemes.append(_Lexeme(char, char, i))
                i += 1
            elif char == '"':
                close = self._closing_quote(i)
                lexemes.append(_Lexeme("PHRASE", text[i + 1 : close], i))
                i = close + 1
            elif char == "-" and i + 1 < len(text) and not text[i + 1].isspace() and text[i + 1] != ")":
                # `-term` excludes, as in Brandwatch and web search. A dash inside a word (`covid-19`)
                # never gets here: the word's lexeme has consumed it.
                lexemes.append(_Lexeme("NOT", "-", i))
                i += 1
            else:
                end = i
                while end < len(text) and not text[end].isspace() and text[end] not in '()"':
                    end += 1
                lexeme, i = self._word(i, end)
                lexemes.append(lexeme)
        lexemes.append(_Lexeme("END", "the end of the query", len(text)))
        return lexemes

    def _closing_quote(self, opening: int) -> int:
        close = self.expression.find('"', opening + 1)
        if close < 0:
            raise self.error(
                f"Missing closing quote for the phrase opened at character {opening + 1}",
                len(self.expression),
            )
        return close

    def _word(self, start: int, end: int) -> tuple[_Lexeme, int]:
        """Classify the bare word `expression[start:end]`; return its lexeme and where lexing resumes."""
        word = self.expression[start:end]
        if word in ("AND", "OR", "NOT"):
            return _Lexeme(word, word, start), end
        if word.upper() in ("AND", "OR", "NOT"):
            raise self.error(
                f'Operators are written in capitals: use {word.upper()}, or write "{word}" in quotes '
                "to search for the word",
                start,
            )
        if word.upper().startswith("NEAR/") or word == "NEAR":
            return self._near(word, start), end
        field = _FIELD.fullmatch(word)
        # `https://...` is a URL, not a field; `acme:` alone is a word followed by a colon.
        if field and not field.group(2).startswith("/"):
            name, value = field.group(1).lower(), field.group(2)
            quoted = not value and self.expression.startswith('"', end)
            if name in _FIELDS:
                if quoted:
                    close = self._closing_quote(end)
                    value, end = self.expression[end + 1 : close], close + 1
                return self._field(name, value, start, end), end
            if value or quoted:
                raise self.error(
                    f'Unknown field "{field.group(1)}:"; the fields are author:, lang: and source: '
                    "(put text in quotes to search for it)",
                    start,
                )
        return _Lexeme("TERM", word, start), end

    def _near(self, word: str, start: int) -> _Lexeme:
        if not word.startswith("NEAR"):
            raise self.error(f"Operators are written in capitals: use NEAR{word[4:]}", start)
        near = _NEAR.fullmatch(word)
        if near is None:
            if word in ("NEAR", "NEAR/"):
                raise self.error("NEAR needs a distance, e.g. NEAR/5", start)
            raise self.error("NEAR's distance must be a whole number of words, e.g. NEAR/5", start)
        # Compared as text first: a thousand-digit number is not worth converting.
        digits = near.group(1).lstrip("0") or "0"
        if len(digits) > 3 or int(digits) > MAX_NEAR_DISTANCE:
            raise self.error(f"NEAR distance must be between 0 and {MAX_NEAR_DISTANCE}", start)
        return _Lexeme("NEAR", word, start, distance=int(digits))

    def _field(self, name: str, raw: str, start: int, end: int) -> _Lexeme:
        field: Field
        if name == "author":
            field = Field("author", normalize_handle(raw))
        elif name == "lang":
            field = Field("lang", raw.strip().lower())
            if field.value and not _LANG.fullmatch(field.value):
                raise self.error("lang: needs a two-letter ISO 639-1 code, e.g. lang:en", start)
        else:
            field = Field("source", normalize_name(raw))
        if not field.value:
            raise self.error(f"Expected a value after {name}:", end)
        # Checked after normalization, which turns the full-width asterisk and quotation mark (U+FF0A,
        # U+FF02) into * and ": the canonical form could not write a value containing either.
        value_at = start + len(name) + 1
        if "*" in field.value:
            raise self.error("Wildcards are not supported in field filters", value_at)
        if '"' in field.value:
            raise self.error("A field value cannot contain quotation marks", value_at)
        return _Lexeme("FIELD", self.expression[start:end], start, field=field)

    # Parsing ----------------------------------------------------------------------------------------

    def peek(self) -> _Lexeme:
        return self.lexemes[self.at]

    def take(self) -> _Lexeme:
        lexeme = self.lexemes[self.at]
        self.at += 1
        return lexeme

    def expect_operand(self, after: _Lexeme) -> None:
        """Fail clearly when an operator has nothing to apply to (`acme AND`, `NOT )`, `a OR OR b`)."""
        following = self.peek()
        if following.kind not in _OPERAND_STARTS:
            raise self.error(f"Expected a term after {after.text}", following.position)

    def query(self) -> Query:
        if not self.expression.strip():
            raise self.error("The query is empty", 0)
        root = self.or_expr(depth=0)
        if self.peek().kind == ")":
            raise self.error("Unmatched closing parenthesis", self.peek().position)
        excluding = _only_excludes(root)
        if excluding is not None:
            raise self.error(
                "This part only excludes, so it would match almost everything: "
                "combine it with a term to look for, e.g. acme NOT jobs",
                self.not_positions[id(excluding)],
            )
        return Query(root)

    def or_expr(self, depth: int) -> Node:
        branches = [self.and_expr(depth)]
        while self.peek().kind == "OR":
            self.expect_operand(self.take())
            branches.append(self.and_expr(depth))
        return disjoin(branches)

    def and_expr(self, depth: int) -> Node:
        items = [self.unary(depth)]
        while True:
            if self.peek().kind == "AND":
                self.expect_operand(self.take())
            elif self.peek().kind not in _OPERAND_STARTS:  # juxtaposition is AND
                return conjoin(items)
            items.append(self.unary(depth))

    def unary(self, depth: int) -> Node:
        if self.peek().kind != "NOT":
            return self.near(depth)
        negation = self.take()
        if depth >= MAX_DEPTH:
            raise self.too_deep(negation.position)
        self.expect_operand(negation)
        node = Not(self.unary(depth + 1))
        self.not_positions[id(node)] = negation.position
        return node

    def near(self, depth: int) -> Node:
        left_at = self.peek().position
        left = self.primary(depth)
        if self.peek().kind != "NEAR":
            return left
        near = self.take()
        if self.peek().kind == "NOT":
            raise self.error(_ONLY_NEAR.format(near.distance), self.peek().position)
        self.expect_operand(near)
        right_at = self.peek().position
        right = self.primary(depth)
        if self.peek().kind == "NEAR":
            raise self.error(
                f"{self.peek().text} cannot follow another NEAR: join them with AND, "
                "e.g. (a NEAR/3 b) AND (b NEAR/3 c)",
                self.peek().position,
            )
        return Near(
            self.positional(left, left_at, near.distance),
            self.positional(right, right_at, near.distance),
            near.distance,
        )

    def positional(self, node: Node, position: int, distance: int) -> tuple[Leaf, ...]:
        """The alternatives of a NEAR operand, which must each have a place in the text."""
        options = node.children if isinstance(node, Or) else (node,)
        leaves = tuple(o for o in options if isinstance(o, Term | Phrase | Prefix))
        if len(leaves) != len(options):
            raise self.error(_ONLY_NEAR.format(distance), position)
        return leaves

    def primary(self, depth: int) -> Node:
        lexeme = self.take()
        if lexeme.kind in ("TERM", "PHRASE", "FIELD"):
            self.terms += 1
            if self.terms > MAX_TERMS:
                raise self.error(f"Too many terms: a query may have at most {MAX_TERMS}", lexeme.position)
            if lexeme.field is not None:
                return lexeme.field
            return self.phrase(lexeme) if lexeme.kind == "PHRASE" else self.term(lexeme)
        if lexeme.kind == "(":
            if depth >= MAX_DEPTH:
                raise self.too_deep(lexeme.position)
            if self.peek().kind == ")":
                raise self.error("Empty parentheses: put a term inside", lexeme.position)
            if self.peek().kind == "END":
                raise self.unclosed(lexeme)
            node = self.or_expr(depth + 1)
            if self.peek().kind != ")":  # only the end can stop an expression short of its `)`
                raise self.unclosed(lexeme)
            self.take()
            return node
        if lexeme.kind == ")":
            raise self.error("Unmatched closing parenthesis", lexeme.position)
        raise self.error(f"Expected a term before {lexeme.text}", lexeme.position)

    def term(self, lexeme: _Lexeme) -> Leaf:
        word = lexeme.text
        star = word.find("*")
        if star < 0:
            if word == "-":
                raise self.error("To exclude a term, write - right before it, e.g. -jobs", lexeme.position)
            tokens = tokenize(word)
            if not tokens:
                raise self.error(f'"{word}" has no letters or digits to search for', lexeme.position)
            # `acme.com`, `covid-19`: a word the tokenizer splits is searched as the phrase it becomes.
            return Term(tokens[0]) if len(tokens) == 1 else Phrase(tuple(tokens))
        if star != len(word) - 1:
            raise self.error("A * is only allowed at the end of a word, e.g. outag*", lexeme.position + star)
        tokens = tokenize(word[:-1])
        if len(tokens) > 1:
            raise self.error("A wildcard must follow a single word, e.g. outag*", lexeme.position)
        stem = tokens[0].lstrip("#@") if tokens else ""
        if len(stem) < MIN_PREFIX_LENGTH:
            raise self.error(
                f"A wildcard needs at least {MIN_PREFIX_LENGTH} letters before the *, e.g. out*",
                lexeme.position,
            )
        return Prefix(tokens[0])

    def phrase(self, lexeme: _Lexeme) -> Leaf:
        star = lexeme.text.find("*")
        if star >= 0:
            raise self.error("Wildcards are not allowed inside quotes", lexeme.position + 1 + star)
        tokens = tokenize(lexeme.text)
        if not tokens:
            raise self.error("The phrase has no words to search for", lexeme.position)
        return Term(tokens[0]) if len(tokens) == 1 else Phrase(tuple(tokens))


def _only_excludes(node: Node) -> Not | None:
    """The NOT that leaves `node` anchored on nothing it looks for, if any: a query matching everything
    but a few words would tag most of a tenant's stream. An AND is anchored by any anchored part, an OR
    only if every branch is; field filters anchor (`lang:en NOT jobs` is a deliberate choice)."""
    match node:
        case Not():
            return node
        case And():
            found = [_only_excludes(child) for child in node.children]
            return found[0] if all(found) else None
        case Or():
            return next((n for n in map(_only_excludes, node.children) if n is not None), None)
    return None


def parse(expression: str) -> Query:
    """Parse a query, or raise `QuerySyntaxError` saying what is wrong and where."""
    if len(expression) > MAX_LENGTH:
        raise QuerySyntaxError(
            f"The query is too long: {len(expression):,} characters, at most {MAX_LENGTH:,} are allowed",
            MAX_LENGTH,
            expression,
        )
    return _Parser(expression).query()
