"""Portal forms of the audience pages: they check input; the services do the work."""

from __future__ import annotations

from typing import Any

from django import forms

from personalization.models import Channel
from personalization.records import IMPORT_FORMATS

DAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]
TONES = [(t, t.capitalize()) for t in ("neutral", "formal", "friendly", "playful", "urgent")]
MEDIA = [(m, m.capitalize()) for m in ("text", "image", "video", "link")]


class ImportForm(forms.Form):
    file = forms.FileField(help_text="CSV with a header row, or NDJSON; UTF-8, at most 5 MB.")
    format = forms.ChoiceField(choices=[(f, f.upper()) for f in IMPORT_FORMATS])


class RecommendForm(forms.Form):
    channel = forms.ModelChoiceField(queryset=Channel.objects.none(), empty_label=None)
    day = forms.TypedChoiceField(choices=DAYS, coerce=int, initial=1, label="Day to send")
    hour = forms.IntegerField(min_value=0, max_value=23, initial=9, label="Hour (contacts' local time)")
    draft = forms.CharField(max_length=10_000, widget=forms.Textarea(attrs={"rows": 3}), label="Draft")
    draft_tone = forms.ChoiceField(choices=TONES, label="Tone of the draft")
    variant = forms.CharField(
        max_length=10_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Variant (optional)",
    )
    variant_tone = forms.ChoiceField(choices=TONES, label="Tone of the variant")
    media_type = forms.ChoiceField(choices=MEDIA)
    call_to_action = forms.BooleanField(required=False, label="Has a call to action")

    def __init__(self, *args: Any, channels: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].queryset = channels  # type: ignore[attr-defined]

    def variants(self) -> list[dict[str, Any]]:
        data = self.cleaned_data
        common = {"media_type": data["media_type"], "call_to_action": data["call_to_action"]}
        out = [{"key": "draft", "text": data["draft"], "tone": data["draft_tone"], **common}]
        if data["variant"].strip():
            out.append({"key": "variant", "text": data["variant"], "tone": data["variant_tone"], **common})
        return out

    def hour_of_week(self) -> int:
        return int(self.cleaned_data["day"]) * 24 + int(self.cleaned_data["hour"])
