"""Forms of the model pages: they check what a person typed and turn it into service arguments.
The rules (who may override, how long a reason must be, valid settings) stay in the services and
the model's validators, whose ValidationErrors the views put back on these forms."""

from __future__ import annotations

from typing import Any

from django import forms

from ethics.models import AttributeSource, FairnessSettings, ModelStatus


class ModelFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *ModelStatus.choices], required=False)


class ActivateForm(forms.Form):
    override_reason = forms.CharField(
        label="Reason for overriding the failed audit",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Recorded in the audit log and on the model card, with your name.",
    )


class RetireForm(forms.Form):
    reason = forms.CharField(
        label="Why take this version out of service?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Recorded in the audit log. No model of this kind is used until another is activated.",
    )


class FairnessSettingsForm(forms.ModelForm):
    """Attributes are edited one per line, `name source key` (e.g. `age_band birth_year birth_year`)."""

    attributes_text = forms.CharField(
        label="Sensitive attributes",
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text=(
            "One per line: name, source, key. Sources: field (a contact field), attribute (a key of "
            "the contact's attributes), birth_year (an age band from a birth year)."
        ),
    )
    bounds_text = forms.CharField(
        label="Age band upper bounds", help_text="Increasing ages, comma-separated: 25, 35, 55, 65"
    )

    class Meta:
        model = FairnessSettings
        fields = [
            "min_dp_ratio",
            "max_eo_difference",
            "min_group_size",
            "max_ci_width",
            "bootstrap_resamples",
        ]
        labels = {
            "min_dp_ratio": "Lowest selection-rate ratio (four-fifths rule: 0.8)",
            "max_eo_difference": "Highest equalized odds difference (empty: not judged)",
            "min_group_size": "Smallest group judged",
            "max_ci_width": "Widest selection-rate interval judged",
            "bootstrap_resamples": "Bootstrap resamples",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["attributes_text"] = "\n".join(
                f"{a['name']} {a['source']} {a['key']}" for a in self.instance.sensitive_attributes
            )
            self.initial["bounds_text"] = ", ".join(str(b) for b in self.instance.age_band_bounds)

    def clean_attributes_text(self) -> list[dict[str, str]]:
        specs = []
        for number, line in enumerate(self.cleaned_data["attributes_text"].splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 3:
                raise forms.ValidationError(f"Line {number}: write name, source and key.")
            if parts[1] not in AttributeSource.values:
                raise forms.ValidationError(
                    f"Line {number}: source must be one of {', '.join(AttributeSource.values)}."
                )
            specs.append({"name": parts[0], "source": parts[1], "key": parts[2]})
        return specs

    def clean_bounds_text(self) -> list[int]:
        try:
            return [int(part) for part in self.cleaned_data["bounds_text"].split(",") if part.strip()]
        except ValueError as error:
            raise forms.ValidationError("Write whole ages separated by commas.") from error

    def changes(self) -> dict[str, Any]:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        return {
            **data,
            "sensitive_attributes": self.cleaned_data["attributes_text"],
            "age_band_bounds": self.cleaned_data["bounds_text"],
        }
