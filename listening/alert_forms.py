"""Forms of the alert pages. Rules about the data (unique names, reachable URLs, the expression's
syntax, ranges) stay in `listening.services.alerts`, whose ValidationErrors the views put back."""

from __future__ import annotations

from typing import Any

from django import forms

from listening.alerting import detectors
from listening.models import AlertKind, Query, Source
from listening.services.alerts import COOLDOWN_MAX, COOLDOWN_MIN, MAX_EMAILS


class AlertRuleForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="e.g. 'Outage talk' or 'Spike on the brand query'.")
    kind = forms.ChoiceField(choices=AlertKind.choices, initial=AlertKind.VOLUME_SPIKE)
    expression = forms.CharField(
        max_length=2_000,
        required=False,
        label="Keyword expression",
        help_text="Keyword rules only: a query expression, e.g. acme AND (outage OR breach).",
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "class": "mono"}),
    )
    query = forms.ModelChoiceField(
        queryset=Query.objects.none(),
        required=False,
        empty_label="All mentions",
        help_text="Count only mentions this query tags (for a keyword rule without an expression: "
        "fire on them).",
    )
    source = forms.ModelChoiceField(queryset=Source.objects.none(), required=False, empty_label="All sources")
    sensitivity = forms.IntegerField(
        min_value=detectors.SENSITIVITY_MIN,
        max_value=detectors.SENSITIVITY_MAX,
        initial=detectors.SENSITIVITY_DEFAULT,
        help_text="1 fires only on extreme changes, 10 on anything notable.",
        widget=forms.NumberInput(attrs={"type": "range", "step": 1}),
    )
    cooldown_minutes = forms.IntegerField(
        min_value=COOLDOWN_MIN,
        max_value=COOLDOWN_MAX,
        initial=60,
        label="Cooldown (minutes)",
        help_text="After an alert, the rule stays quiet this long.",
    )
    notify_portal = forms.BooleanField(required=False, initial=True, label="Notify members in the portal")
    email_to = forms.CharField(
        required=False,
        label="Email to",
        help_text=f"Up to {MAX_EMAILS} addresses, separated by commas.",
    )
    webhook_url = forms.URLField(
        assume_scheme="https",
        required=False,
        max_length=2_000,
        label="Signed webhook URL",
        help_text="Leave empty to keep the current one.",
        widget=forms.URLInput(attrs={"autocomplete": "off"}),
    )
    slack_url = forms.URLField(
        assume_scheme="https",
        required=False,
        max_length=2_000,
        label="Slack incoming-webhook URL",
        help_text="Leave empty to keep the current one.",
        widget=forms.URLInput(attrs={"autocomplete": "off"}),
    )
    clear_webhook = forms.BooleanField(required=False, label="Remove the webhook")
    clear_slack = forms.BooleanField(required=False, label="Remove the Slack webhook")
    is_active = forms.BooleanField(required=False, initial=True, label="Active")

    def __init__(self, *args: Any, queries: Any, sources: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["query"].queryset = queries  # type: ignore[attr-defined]
        self.fields["source"].queryset = sources  # type: ignore[attr-defined]

    def clean_email_to(self) -> list[str]:
        raw = self.cleaned_data.get("email_to") or ""
        return [address.strip() for address in raw.replace(";", ",").split(",") if address.strip()]

    def changes(self, *, creating: bool) -> dict[str, Any]:
        """The service's arguments: blank URLs keep the current ones unless removal is asked."""
        data = dict(self.cleaned_data)
        clear_webhook, clear_slack = data.pop("clear_webhook"), data.pop("clear_slack")
        for field, clear in (("webhook_url", clear_webhook), ("slack_url", clear_slack)):
            if clear:
                data[field] = ""
            elif not data[field] and not creating:
                data.pop(field)
        return data


class EscalateForm(forms.Form):
    note = forms.CharField(max_length=2_000, required=False)
