"""Portal forms of incidents and playbooks: they check the shape of the input; the services check
the rest (members, playbook variables, channels) and their errors land on these fields."""

from __future__ import annotations

from typing import Any

from django import forms

from crisis.incident_selectors import PauseMode
from crisis.models import ScenarioChoice, Severity, TaskStatus
from crisis.playbooks import Channel, Role

STATUS_FILTERS = [("", "Any status"), ("open", "Open"), ("resolved", "Resolved"), ("closed", "Closed")]


def _set_choices(form: forms.Form, name: str, choices: list[tuple[str, str]]) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def _people_choices(people: list[Any], blank: str | None = None) -> list[tuple[str, str]]:
    choices = [("", blank)] if blank is not None else []
    return choices + [(str(p.pk), p.full_name or p.email) for p in people]


class IncidentFilterForm(forms.Form):
    status = forms.ChoiceField(choices=STATUS_FILTERS, required=False)
    scenario = forms.ChoiceField(choices=[("", "Any scenario"), *ScenarioChoice.choices], required=False)
    severity = forms.TypedChoiceField(
        choices=[("", "Any severity"), *Severity.choices], coerce=int, required=False, empty_value=None
    )


class SuggestForm(forms.Form):
    description = forms.CharField(
        label="What is happening?",
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=20_000,
        required=False,
        help_text="Candor suggests the scenario and its playbook from this (and from the alert, if any).",
    )


class DeclareForm(forms.Form):
    title = forms.CharField(max_length=200)
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, required=False)
    scenario = forms.ChoiceField(choices=ScenarioChoice.choices)
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int, initial=Severity.SEV2)
    owner = forms.TypedChoiceField(choices=(), coerce=int, help_text="Becomes the incident commander.")
    playbook = forms.TypedChoiceField(
        choices=(), coerce=int, required=False, empty_value=None, help_text="Default: the suggested one."
    )
    pause = forms.ChoiceField(
        choices=PauseMode.CHOICES, initial=PauseMode.TENANT, widget=forms.RadioSelect, label="Crisis mode"
    )
    channels = forms.TypedMultipleChoiceField(
        choices=(), coerce=int, required=False, widget=forms.CheckboxSelectMultiple, label="Channels to pause"
    )
    alert = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)

    def __init__(
        self, *args: Any, people: list[Any], playbooks: list[Any], channels: list[Any], **kwargs: Any
    ):
        self.variable_names: list[str] = kwargs.pop("variable_names", [])
        super().__init__(*args, **kwargs)
        _set_choices(self, "owner", _people_choices(people))
        _set_choices(
            self,
            "playbook",
            [("", "No playbook")]
            + [(str(p.pk), f"{p.name} ({p.get_scenario_display()}, v{p.version})") for p in playbooks],
        )
        _set_choices(self, "channels", [(str(c.pk), c.name) for c in channels])
        for name in self.variable_names:
            self.fields[f"var_{name}"] = forms.CharField(max_length=500, required=False, label=name)

    def variables(self) -> dict[str, str]:
        return {
            name: self.cleaned_data.get(f"var_{name}", "")
            for name in self.variable_names
            if self.cleaned_data.get(f"var_{name}", "").strip()
        }


class IncidentEditForm(forms.Form):
    severity = forms.TypedChoiceField(choices=Severity.choices, coerce=int)
    owner = forms.TypedChoiceField(choices=(), coerce=int)

    def __init__(self, *args: Any, people: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "owner", _people_choices(people))


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=[(r.value, r.value.replace("_", " ")) for r in Role])
    user = forms.TypedChoiceField(choices=(), coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, people: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "user", _people_choices(people, blank="(the owner)"))


class TaskAddForm(forms.Form):
    title = forms.CharField(max_length=300)
    owner = forms.TypedChoiceField(choices=(), coerce=int, required=False, empty_value=None)
    due_at = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}), label="Due"
    )

    def __init__(self, *args: Any, people: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "owner", _people_choices(people, blank="(the owner)"))


class TaskChangeForm(forms.Form):
    status = forms.ChoiceField(choices=TaskStatus.choices, required=False)
    owner = forms.TypedChoiceField(choices=(), coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, people: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _set_choices(self, "owner", _people_choices(people, blank="(unchanged)"))


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=5000, label="Note")


class StatusForm(forms.Form):
    note = forms.CharField(max_length=2000, required=False)


class PlaybookYamlForm(forms.Form):
    yaml = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 30, "spellcheck": "false", "class": "code"}),
        max_length=100_000,
        strip=False,
        label="Playbook (YAML)",
    )


class StepForm(forms.Form):
    """One step of the structured editor (its id stays; order follows the deadlines)."""

    id = forms.SlugField(max_length=63, widget=forms.HiddenInput)
    title = forms.CharField(max_length=160)
    owner = forms.ChoiceField(choices=[(r.value, r.value.replace("_", " ")) for r in Role])
    due_minutes = forms.IntegerField(min_value=0, label="Due (minutes after declaring)")
    channels = forms.MultipleChoiceField(
        choices=[(c.value, c.value.replace("_", " ")) for c in Channel],
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    instructions = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


StepFormSet = forms.formset_factory(StepForm, extra=0, max_num=100, validate_max=True)
