"""What retention can remove: a registry of kinds of data (mentions, contacts, and later engagement)
with how to find what is older than a cutoff and how to remove it. Apps register in `ready()`;
`ethics.services.retention_enforce` and the dry run walk the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RetentionKind:
    kind: str
    label: str
    count: Callable[[datetime], int]  # how many items are older than the cutoff
    purge: Callable[[datetime], int]  # removes them; returns how many


_kinds: dict[str, RetentionKind] = {}


def retention_register(kind: RetentionKind) -> None:
    _kinds[kind.kind] = kind


def retention_kinds() -> list[RetentionKind]:
    return sorted(_kinds.values(), key=lambda k: k.kind)


def retention_kind(kind: str) -> RetentionKind | None:
    return _kinds.get(kind)
