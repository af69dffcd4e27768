"""RELIABILITY 33 as a state machine: give, withdraw, give again and erase in any order. The gate
always agrees with a plain model of the person's choices, a withdrawal without consent is refused,
and the chain verifies after every step, erasure included."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ethics.models import ConsentEvent
from ethics.personal_data import person_erase
from ethics.selectors import consent_verify, consented_contacts, person_for
from personalization.models import Contact
from tests.ethics.conftest import make_contact, record

PURPOSES = ("analytics", "outreach", "personalization")


class Ledger(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.contact: Contact | None = make_contact(email="state@example.org", handles=[])
        self.granted = dict.fromkeys(PURPOSES, False)
        self.events = ConsentEvent.objects.count()

    @precondition(lambda self: self.contact is not None)
    @rule(purpose=st.sampled_from(PURPOSES))
    def give(self, purpose: str) -> None:
        record(self.contact, purpose)
        self.granted[purpose] = True
        self.events += 1

    @precondition(lambda self: self.contact is not None)
    @rule(purpose=st.sampled_from(PURPOSES))
    def withdraw(self, purpose: str) -> None:
        if self.granted[purpose]:
            record(self.contact, purpose, action="withdraw")
            self.granted[purpose] = False
            self.events += 1
        else:
            with pytest.raises(ValidationError):
                record(self.contact, purpose, action="withdraw")

    @precondition(lambda self: self.contact is not None)
    @rule()
    def erase(self) -> None:
        person_erase(person=person_for(contact=self.contact))
        self.contact = None

    @precondition(lambda self: self.contact is None)
    @rule()
    def someone_new(self) -> None:
        self.contact = make_contact(email="state@example.org", handles=[])
        self.granted = dict.fromkeys(PURPOSES, False)

    @invariant()
    def the_gate_agrees_and_the_chain_holds(self) -> None:
        for purpose, granted in self.granted.items():
            reachable = (
                self.contact is not None
                and consented_contacts(purpose=purpose).filter(pk=self.contact.pk).exists()
            )
            assert reachable == (granted and self.contact is not None)
        assert ConsentEvent.objects.count() == self.events
        assert consent_verify().ok


def test_any_sequence_of_choices_keeps_the_gate_and_the_chain_right(in_a):
    run_state_machine_as_test(
        Ledger,
        settings=settings(
            max_examples=15,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
