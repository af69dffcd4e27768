"""Forms of the listening pages: they check what a person typed and turn it into the arguments of a
selector or a service. Rules about the data itself (unique names, reachable URLs, the query syntax)
stay in the services, whose ValidationErrors the views put back on these forms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django import forms
from django.urls import reverse_lazy

from listening.models import InboxStatus, Query, QueryKind, Sentiment, Source, SourceKind
from listening.nlp.language import LANGUAGES as DETECTED_LANGUAGES
from listening.nlp.needs_reply import Reason
from listening.selectors import INBOX_ALL, INBOX_WAITING, InboxFilters, MentionFilters, TopicFilters

# Names for the codes the language detector gives (listening.nlp.language.LANGUAGES).
LANGUAGE_NAMES = {
    "ar": "Arabic", "bn": "Bengali", "ca": "Catalan", "cs": "Czech", "da": "Danish", "de": "German",
    "el": "Greek", "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "ko": "Korean", "nb": "Norwegian", "nl": "Dutch", "pl": "Polish", "pt": "Portuguese", "ro": "Romanian",
    "ru": "Russian", "sv": "Swedish", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian",
    "vi": "Vietnamese", "zh": "Chinese",
}  # fmt: skip


RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
RANGE_CHOICES = [
    ("", "Any time"),
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom range"),
]
AUTO_APPLY = {"class": "auto-apply"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Cursor:
    """The last mention of a page: the next page starts strictly after it in (posted_at, id) order,
    so mentions arriving meanwhile neither shift nor repeat what "Load more" shows."""

    posted_at: datetime
    pk: int

    def encode(self) -> str:
        # Whole microseconds: exact (a float timestamp could round to a neighbouring microsecond).
        return f"{(self.posted_at - _EPOCH) // timedelta(microseconds=1)}.{self.pk}"

    @classmethod
    def decode(cls, value: str) -> Cursor:
        micros, _, pk = value.partition(".")
        return cls(posted_at=_EPOCH + timedelta(microseconds=int(micros)), pk=int(pk))


class StreamFilterForm(forms.Form):
    """The mention stream's filter bar, submitted with GET so every view of the stream is a URL."""

    q = forms.CharField(
        max_length=500,
        required=False,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": 'Words, "a phrase", -exclude'}),
    )
    # Choosing in a select applies the filters at once (htmx listens for changes of `.auto-apply`);
    # the search box and the dates apply with Enter or the Apply button.
    query = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Query", widget=forms.Select(attrs=AUTO_APPLY)
    )
    source = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Source", widget=forms.Select(attrs=AUTO_APPLY)
    )
    sentiment = forms.ChoiceField(
        choices=[("", "Any sentiment"), *Sentiment.choices],
        required=False,
        label="Sentiment",
        widget=forms.Select(attrs=AUTO_APPLY),
    )
    lang = forms.ChoiceField(required=False, label="Language", widget=forms.Select(attrs=AUTO_APPLY))
    range = forms.ChoiceField(
        choices=RANGE_CHOICES, required=False, label="Time", widget=forms.Select(attrs=AUTO_APPLY)
    )
    since = forms.DateTimeField(
        required=False, label="From", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    until = forms.DateTimeField(
        required=False, label="To", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    cursor = forms.RegexField(regex=r"^-?\d{1,20}\.\d{1,20}$", required=False, widget=forms.HiddenInput)

    FILTER_FIELDS = ("q", "query", "source", "sentiment", "lang", "range")

    def __init__(
        self, *args: Any, queries: Sequence[Query] = (), sources: Sequence[Source] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._choices("query", "All queries", [(q.pk, q.name) for q in queries])
        self._choices("source", "All sources", [(s.pk, s.name) for s in sources])
        languages = {code: LANGUAGE_NAMES.get(code, code) for code in DETECTED_LANGUAGES}
        chosen = self.data.get("lang", "")
        if chosen and chosen not in languages and len(chosen) <= 3 and chosen.isalpha():
            languages[chosen] = chosen  # a language hint from a source, outside the detector's set
        self._choices("lang", "Any language", sorted(languages.items(), key=lambda item: item[1]))

    def _choices(self, name: str, blank: str, choices: list[tuple[Any, str]]) -> None:
        field = self.fields[name]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", blank), *choices]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if data.get("range") == "custom" and since is not None and until is not None and since >= until:
            self.add_error("until", "The end must be after the start.")
        return data

    def filters(self, *, now: datetime) -> MentionFilters:
        """What the valid fields ask for; a field with an error filters nothing (and says so)."""
        data = getattr(self, "cleaned_data", {})
        since = until = None
        span = data.get("range", "")
        if span in RANGES:
            since = now - RANGES[span]
        elif span == "custom":
            since, until = data.get("since"), data.get("until")
        return MentionFilters(
            query_id=data.get("query"),
            source_id=data.get("source"),
            sentiment=data.get("sentiment", ""),
            lang=data.get("lang", ""),
            since=since,
            until=until,
            text=data.get("q", "").strip(),
        )

    def clean_cursor(self) -> Cursor | None:
        raw = self.cleaned_data.get("cursor")
        if not raw:
            return None
        try:
            return Cursor.decode(raw)
        except (OverflowError, ValueError) as error:  # a time outside what datetime holds
            raise forms.ValidationError("This link to older mentions is broken.") from error

    @property
    def cursor_value(self) -> Cursor | None:
        return getattr(self, "cleaned_data", {}).get("cursor")

    @property
    def is_filtered(self) -> bool:
        return any(self.data.get(name) for name in self.FILTER_FIELDS)


class QueryForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="e.g. 'Acme brand' or 'Competitor: Globex'.")
    kind = forms.ChoiceField(choices=QueryKind.choices, initial=QueryKind.BRAND)
    expression = forms.CharField(
        max_length=2_000,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "spellcheck": "false",
                "autocomplete": "off",
                "class": "mono",
                "placeholder": '(acme OR "acme cloud") AND (outage OR down*)',
                # The live count: each pause in typing asks the server how many recent mentions
                # match; requests queue (only the latest waits) rather than abort, since htmx
                # reports an aborted request as an error.
                "hx-post": reverse_lazy("listening-query-preview"),
                "hx-trigger": "load, input changed delay:400ms",
                "hx-target": "#expression-preview",
                "hx-sync": "this:queue last",
                "aria-describedby": "expression-preview",
            }
        ),
    )
    is_active = forms.BooleanField(
        required=False, initial=True, label="Active", help_text="Tag new mentions as they arrive."
    )


class QueryPreviewForm(forms.Form):
    expression = forms.CharField(max_length=2_000, required=False, strip=False)
    days = forms.IntegerField(min_value=1, max_value=90, required=False)


class SourceForm(forms.Form):
    """One form per kind of source; `config()` is the kind's settings for `source_create`."""

    kind: str = ""
    name = forms.CharField(max_length=100)

    def config(self) -> dict[str, Any]:
        return {}


class RssSourceForm(SourceForm):
    kind = SourceKind.RSS
    url = forms.URLField(
        max_length=2_000,
        label="Feed URL",
        assume_scheme="https",
        widget=forms.URLInput(attrs={"placeholder": "https://status.example.com/feed.atom"}),
    )

    def config(self) -> dict[str, Any]:
        return {"url": self.cleaned_data["url"]}


class MastodonSourceForm(SourceForm):
    kind = SourceKind.MASTODON
    instance = forms.CharField(
        max_length=200, widget=forms.TextInput(attrs={"placeholder": "mastodon.social"})
    )
    tag = forms.CharField(
        max_length=100,
        required=False,
        label="Hashtag",
        widget=forms.TextInput(attrs={"placeholder": "acme"}),
    )
    account_id = forms.CharField(
        max_length=40,
        required=False,
        label="Account id",
        help_text="Instead of a hashtag: the numeric id of one account.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("tag", "").strip()) == bool(data.get("account_id", "").strip()):
            raise forms.ValidationError("Give a hashtag or an account id (one of the two).")
        return data

    def config(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"instance": data["instance"], "tag": data["tag"], "account_id": data["account_id"]}


class WebhookSourceForm(SourceForm):
    kind = SourceKind.WEBHOOK


class ApiSourceForm(SourceForm):
    kind = SourceKind.API


SOURCE_FORMS: dict[str, type[SourceForm]] = {
    form.kind: form for form in (RssSourceForm, MastodonSourceForm, WebhookSourceForm, ApiSourceForm)
}


class UploadForm(forms.Form):
    file = forms.FileField(
        label="CSV or NDJSON file",
        help_text="One mention per row or line, with at least an id, the text and when it was posted.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.ndjson,.jsonl,.json,text/csv"}),
    )


# Mention fields a file's columns can fill, in the order the mapping page asks for them.
MAPPING_FIELDS = {
    "external_id": "Mention id",
    "text": "Text",
    "posted_at": "Posted at",
    "author_handle": "Author handle",
    "author_name": "Author name",
    "author_followers": "Author followers",
    "url": "URL",
    "lang": "Language",
}
REQUIRED_MAPPING = ("external_id", "text", "posted_at")


class UploadMappingForm(forms.Form):
    """One select per mention field, listing the file's columns."""

    def __init__(self, *args: Any, columns: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, label in MAPPING_FIELDS.items():
            required = name in REQUIRED_MAPPING
            blank = "Choose a column" if required else "Not in the file"
            self.fields[name] = forms.ChoiceField(
                choices=[("", blank), *((c, c) for c in columns)],
                required=required,
                label=label,
                help_text="Required." if required else "",
            )

    def mapping(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name, "") for name in MAPPING_FIELDS}


TOPIC_SORT_CHOICES = [
    ("growth", "Fastest growing"),
    ("volume", "Most mentions"),
    ("negative", "Most negative"),
    ("new", "Newest"),
]
TOPIC_STATUS_CHOICES = [("active", "Active"), ("dormant", "Dormant"), ("all", "All")]


class TopicListForm(forms.Form):
    sort = forms.ChoiceField(choices=TOPIC_SORT_CHOICES, required=False, label="Sort by")
    status = forms.ChoiceField(choices=TOPIC_STATUS_CHOICES, required=False, label="Show")

    def filters(self) -> tuple[TopicFilters, str]:
        """The selector's filters and sort; a field with an error falls back to its default."""
        data = getattr(self, "cleaned_data", {})
        status = data.get("status") or "active"
        return TopicFilters(status="" if status == "all" else status), data.get("sort") or "growth"


# Inbox -------------------------------------------------------------------------------------------

# Blank is the default view (new and assigned items), so the inbox's plain address shows it.
INBOX_STATUS_CHOICES = [
    ("", "Waiting for an answer"),
    *InboxStatus.choices,
    (INBOX_ALL, "All"),
]


class InboxFilterForm(forms.Form):
    """The inbox's filter bar (GET, so every view of the inbox is a link)."""

    q = forms.CharField(
        max_length=500,
        required=False,
        label="Search",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": 'Words, "a phrase", -exclude'}),
    )
    status = forms.ChoiceField(
        choices=INBOX_STATUS_CHOICES, required=False, label="Status", widget=forms.Select(attrs=AUTO_APPLY)
    )
    assignee = forms.ChoiceField(required=False, label="Assignee", widget=forms.Select(attrs=AUTO_APPLY))
    reason = forms.ChoiceField(
        choices=[("", "Any reason"), *Reason.LABELS.items()],
        required=False,
        label="Reason",
        widget=forms.Select(attrs=AUTO_APPLY),
    )
    query = forms.TypedChoiceField(
        coerce=int, required=False, empty_value=None, label="Query", widget=forms.Select(attrs=AUTO_APPLY)
    )

    def __init__(
        self, *args: Any, queries: Sequence[Query] = (), people: Sequence[Any] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.ChoiceField)
        assignee.choices = [
            ("", "Anyone"),
            ("me", "Me"),
            ("unassigned", "Unassigned"),
            *((str(p.pk), p.display_name) for p in people),
        ]
        query = self.fields["query"]
        assert isinstance(query, forms.ChoiceField)
        query.choices = [("", "All queries"), *((q.pk, q.name) for q in queries)]

    def filters(self, *, user_id: int) -> InboxFilters:
        data = self.cleaned_data if self.is_bound and hasattr(self, "cleaned_data") else {}
        assignee = data.get("assignee") or ""
        return InboxFilters(
            status=data.get("status") or INBOX_WAITING,
            assignee_id=user_id if assignee == "me" else int(assignee) if assignee.isdigit() else None,
            unassigned=assignee == "unassigned",
            reason=data.get("reason") or "",
            query_id=data.get("query"),
            text=data.get("q") or "",
        )

    @property
    def is_filtered(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return (
            any(data.get(name) for name in ("q", "assignee", "reason", "query"))
            or (data.get("status") or INBOX_WAITING) != INBOX_WAITING
        )


class InboxReplyForm(forms.Form):
    """The reply box: saved as a draft, or sent as the answer."""

    text = forms.CharField(
        max_length=10_000,
        required=False,
        strip=False,
        label="Reply",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "Write the reply…"}),
    )


class InboxSettingsForm(forms.Form):
    """The tenant's inbox thresholds (admins)."""

    high_reach_followers = forms.IntegerField(
        min_value=1, max_value=10**10, label="High reach from (followers)"
    )
    negative_min_score = forms.FloatField(
        min_value=0.0,
        max_value=1.0,
        label="Negative from (model confidence, 0 to 1)",
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )
    response_target_minutes = forms.IntegerField(
        min_value=1, max_value=60 * 24 * 30, label="Response target (minutes)"
    )
