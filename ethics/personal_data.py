"""Where personal data lives: the registry data-subject requests work through.

Each tenant app that stores data about people registers a `Provider` in its `ready()`: the models it
covers, `export(person) -> {table: rows}` and `erase(person) -> {table: count}`. Access exports and
erasures call every provider, so a new app is reached by registering, not by editing ethics; a test
fails when a model with personal fields is covered by no provider.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Rows = dict[str, Sequence[Mapping[str, Any]]]


@dataclass(frozen=True)
class Person:
    """Everything by which a person can be found, gathered before anything is erased."""

    contact_id: int | None
    pseudonym: str = ""  # the ledger's keyed pseudonym of the contact
    emails: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()  # lower-case, without a leading '@'


@dataclass(frozen=True)
class Provider:
    name: str
    models: tuple[str, ...]  # "app_label.ModelName" of every model whose personal data it handles
    export: Callable[[Person], Rows]
    erase: Callable[[Person], dict[str, int]]
    # Erasure runs in ascending order: providers that find data through the contact's handles or
    # links run before the one that deletes the contact itself.
    order: int = 100
    notes: dict[str, str] = field(default_factory=dict)


_providers: dict[str, Provider] = {}


def provider_register(provider: Provider) -> None:
    """Register (or replace, so a reloaded app does not register twice) a provider."""
    _providers[provider.name] = provider


def providers() -> list[Provider]:
    return sorted(_providers.values(), key=lambda p: (p.order, p.name))


def covered_models() -> set[str]:
    return {model for provider in _providers.values() for model in provider.models}


def person_export(*, person: Person) -> Rows:
    """Every provider's tables about the person, keyed `<provider>.<table>` (empty tables included,
    so the bundle shows what was looked at)."""
    bundle: Rows = {}
    for provider in providers():
        for table, rows in provider.export(person).items():
            bundle[f"{provider.name}.{table}"] = rows
    return bundle


def person_erase(*, person: Person) -> dict[str, int]:
    counts: dict[str, int] = {}
    for provider in providers():
        for table, count in provider.erase(person).items():
            counts[f"{provider.name}.{table}"] = count
    return counts
