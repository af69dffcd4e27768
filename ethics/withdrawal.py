"""Withdrawal reaching running work. Apps that hold contacts in segments or pending targeted sends
register a handler here; on commit of every withdrawal a task calls each handler with the contact
and the purpose, so a withdrawn contact leaves them within one worker cycle. New work is already
safe at once: the gate (`ethics.selectors.consented_contacts`) reads the same transaction's state."""

from __future__ import annotations

from collections.abc import Callable

WithdrawalHandler = Callable[[int, str], int]  # (contact_id, purpose code) -> items dropped

_handlers: dict[str, WithdrawalHandler] = {}


def withdrawal_handler_register(name: str, handler: WithdrawalHandler) -> None:
    _handlers[name] = handler


def withdrawal_handler_unregister(name: str) -> None:
    _handlers.pop(name, None)


def withdrawal_handlers() -> dict[str, WithdrawalHandler]:
    return dict(_handlers)
