"""Forms of the ethics pages: they check what a person typed and turn it into the arguments of a
service. Rules about the data itself stay in the services, whose ValidationErrors the views put
back on these forms."""

from __future__ import annotations

from typing import Any

from django import forms

from ethics.models import AttributeSource, ConsentAction, DsrKind, FairnessSettings, LawfulBasis, ModelStatus


class NoticeForm(forms.Form):
    text = forms.CharField(
        label="New notice text",
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Published as the next version; earlier versions stay as they were shown.",
    )


class PurposeForm(forms.Form):
    code = forms.SlugField(max_length=50, help_text="Lower-case, e.g. research. It never changes.")
    name = forms.CharField(max_length=100)
    description = forms.CharField(max_length=2000, required=False)
    notice_text = forms.CharField(
        label="Notice text", max_length=20_000, widget=forms.Textarea(attrs={"rows": 3})
    )


class ConsentForm(forms.Form):
    """Recording, in the portal, a consent the person gave elsewhere (a signed form, a call)."""

    purpose = forms.ChoiceField()
    action = forms.ChoiceField(choices=ConsentAction.choices)
    lawful_basis = forms.ChoiceField(choices=LawfulBasis.choices, initial=LawfulBasis.CONSENT)
    form_id = forms.CharField(label="Form or reference", max_length=100, required=False)

    def __init__(self, *args: Any, purposes: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        purpose = self.fields["purpose"]
        assert isinstance(purpose, forms.ChoiceField)
        purpose.choices = [(p.code, p.name) for p in purposes]


class PreferenceForm(forms.Form):
    purpose = forms.SlugField(max_length=50)
    action = forms.ChoiceField(choices=ConsentAction.choices)
    # The notice version the page showed: recorded as shown, even if a newer one appeared meanwhile.
    notice_version = forms.IntegerField(min_value=1, required=False)


class DsrForm(forms.Form):
    kind = forms.ChoiceField(choices=DsrKind.choices)
    contact = forms.IntegerField(
        required=False, min_value=1, help_text="The contact's number (from Contacts), if the person is one."
    )
    handles = forms.CharField(
        required=False,
        max_length=2000,
        help_text="Handles the person posts under, comma-separated (mention authors who are not contacts).",
    )
    name = forms.CharField(label="Corrected name", required=False, max_length=200)
    email = forms.EmailField(label="Corrected email", required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["subject_handles"] = [h.strip() for h in data.get("handles", "").split(",") if h.strip()][:20]
        changes = {k: data[k] for k in ("name", "email") if data.get(k)}
        if data.get("kind") == DsrKind.RECTIFICATION and not changes:
            raise forms.ValidationError("Rectification needs a corrected name or email.")
        data["changes"] = changes if data.get("kind") == DsrKind.RECTIFICATION else {}
        return data


class CodeForm(forms.Form):
    code = forms.RegexField(r"^\s*[0-9]{8}\s*$", max_length=20, label="Code the person read back")


class AttestForm(forms.Form):
    method = forms.CharField(max_length=100, help_text="e.g. call-back to a known number, signed letter")
    note = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class RetentionForm(forms.Form):
    """One field per registered kind: days, or empty to keep forever."""

    def __init__(self, *args: Any, kinds: list[Any], periods: dict[str, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for kind in kinds:
            self.fields[kind.kind] = forms.IntegerField(
                label=kind.label,
                required=False,
                min_value=1,
                max_value=36_500,
                initial=periods.get(kind.kind),
                help_text="Days; empty keeps it forever.",
            )


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
