"""Metrics API: time series (5 minutes to days, in the caller's time zone), share of voice, top
authors, sources and languages over a range. Each answers JSON, or CSV with `?format=csv` or
`Accept: text/csv` (cells escaped against spreadsheet formulas). The portal's dashboard draws
its charts from these same endpoints."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from listening import selectors
from listening.connectors.upload import csv_safe
from listening.models import Query, Source
from listening.selectors_metrics import (
    MetricFilters,
    MetricPoint,
    metric_series_grouped,
    metric_top_authors,
    metric_totals,
)
from tenants.access import Access
from tenants.api.base import TenantApi

RESOLUTIONS = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
# What `auto` picks: 5 minutes up to two days (576 points), hours up to three weeks (504), then days.
AUTO = ((timedelta(days=2), "5m"), (timedelta(days=21), "1h"))
MAX_POINTS = 2_500  # a chart cannot show more; 5 minutes over a year would be 105,120
MIN_RANGE = timedelta(hours=1)
MAX_RANGE = timedelta(days=366)
DEFAULT_RANGE = timedelta(hours=24)
SENTIMENTS = ("positive", "neutral", "negative")
POINT_FIELDS = ("volume", "positive", "neutral", "negative", "reach")


@dataclass(frozen=True)
class CsvTable:
    filename: str
    header: Sequence[str]
    rows: Iterable[Sequence[object]]


class CsvRenderer(renderers.BaseRenderer):
    """A `CsvTable` as CSV. An error answer (a dict) stays JSON, with its own content type."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        response = (renderer_context or {}).get("response")
        if not isinstance(data, CsvTable):
            if response is not None:
                response["Content-Type"] = "application/json"
            return json.dumps(data).encode()
        if response is not None:
            response["Content-Disposition"] = f'attachment; filename="{data.filename}"'
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(data.header)
        for row in data.rows:
            writer.writerow([csv_safe(v) if isinstance(v, str) else v for v in row])
        return out.getvalue().encode()


class RangeSerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False, help_text="ISO 8601; default: `end` minus 24 hours")
    end = serializers.DateTimeField(required=False, help_text="ISO 8601; default: now")
    tz = serializers.CharField(required=False, default="UTC", max_length=64, help_text="IANA time zone")
    query = serializers.IntegerField(required=False, min_value=1)
    source = serializers.IntegerField(required=False, min_value=1)  # type: ignore[assignment]  # a DRF field named like a stub attribute
    lang = serializers.RegexField(r"^[a-z]{2,3}$", required=False)

    def validate_tz(self, value: str) -> ZoneInfo:
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise serializers.ValidationError(
                f"'{value}' is not an IANA time zone (e.g. Europe/Berlin)."
            ) from None

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.setdefault("end", timezone.now())
        start = attrs.setdefault("start", end - DEFAULT_RANGE)
        if end <= start:
            raise serializers.ValidationError({"end": "must be after start"})
        if end - start < MIN_RANGE:
            raise serializers.ValidationError({"start": "the range must be at least 1 hour"})
        if end - start > MAX_RANGE:
            raise serializers.ValidationError({"start": "the range may be at most 366 days"})
        attrs["filters"] = MetricFilters(
            query_id=attrs.get("query"), source_id=attrs.get("source"), lang=attrs.get("lang")
        )
        return attrs


class TimeseriesSerializer(RangeSerializer):
    resolution = serializers.ChoiceField(choices=["auto", *RESOLUTIONS], default="auto")
    group_by = serializers.ChoiceField(choices=["query", "source", "lang", "sentiment"], required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        span = attrs["end"] - attrs["start"]
        if attrs["resolution"] == "auto":
            attrs["resolution"] = next((name for limit, name in AUTO if span <= limit), "1d")
        if span / RESOLUTIONS[attrs["resolution"]] > MAX_POINTS:
            raise serializers.ValidationError(
                {"resolution": f"{attrs['resolution']} steps over this range exceed {MAX_POINTS} points"}
            )
        if attrs.get("group_by") == "query" and attrs.get("query"):
            raise serializers.ValidationError({"group_by": "grouping by query cannot be combined with query"})
        return attrs


class TopRangeSerializer(RangeSerializer):
    limit = serializers.IntegerField(required=False, default=20, min_value=1, max_value=100)


RANGE_PARAMETERS = [
    OpenApiParameter("start", str),
    OpenApiParameter("end", str),
    OpenApiParameter("tz", str, description="IANA time zone; day steps start at its midnight"),
    OpenApiParameter("query", int),
    OpenApiParameter("source", int),
    OpenApiParameter("lang", str),
    OpenApiParameter("format", str, enum=["json", "csv"]),
]


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


class MetricsApi(TenantApi):
    """Counts of enriched mentions over time and their breakdowns; every endpoint takes a range
    (`start`, `end`: 1 hour to 366 days, default the last 24 hours) and the filters `query`,
    `source` and `lang`."""

    renderer_classes = [renderers.JSONRenderer, CsvRenderer]
    pagination_class = None

    def scoped_queryset(self, access: Access) -> QuerySet[Query]:
        return selectors.query_list()

    def _valid(self, serializer_class: type[RangeSerializer]) -> dict[str, Any]:
        data = serializer_class(data=self.request.query_params)
        data.is_valid(raise_exception=True)
        return dict(data.validated_data)

    def _answer(self, body: dict[str, Any], table: Callable[[], CsvTable]) -> Response:
        if self.request.accepted_renderer.format == "csv":
            return Response(table())
        return Response(body)

    @extend_schema(
        parameters=[
            *RANGE_PARAMETERS,
            OpenApiParameter("resolution", str, enum=["auto", *RESOLUTIONS]),
            OpenApiParameter("group_by", str, enum=["query", "source", "lang", "sentiment"]),
        ],
        responses={200: dict, (200, "text/csv"): bytes},
    )
    @action(detail=False, methods=["get"])
    def timeseries(self, request: Request) -> Response:
        """Volume, sentiment counts and reach per step (`resolution` auto: 5 minutes up to 2 days,
        hours up to 3 weeks, days beyond; days start at midnight in `tz`), empty steps included.
        `group_by` gives one series per query (share of voice), source or language; `sentiment`
        gives one series per sentiment whose `volume` is that sentiment's count."""
        v = self._valid(TimeseriesSerializer)
        group_by = v.get("group_by")
        known = _known(group_by)
        grouped = metric_series_grouped(
            start=v["start"],
            end=v["end"],
            step=RESOLUTIONS[v["resolution"]],
            filters=v["filters"],
            group_by=None if group_by == "sentiment" else group_by,
            tz=v["tz"],
            include=list(known),
            cached=True,
        )
        series = _series(grouped, group_by, known)
        first = series[0][2] if series else []
        body = {
            "resolution": v["resolution"],
            "tz": v["tz"].key,
            "group_by": group_by,
            "start": first[0].start if first else v["start"],
            "end": (first[-1].start + RESOLUTIONS[v["resolution"]]) if first else v["end"],
            "series": _series_json(series, sentiment=group_by == "sentiment"),
        }
        fields = ("volume",) if group_by == "sentiment" else POINT_FIELDS

        def table() -> CsvTable:
            rows = (
                [key, label, p.start.isoformat(), *_values(p, key if group_by == "sentiment" else None)]
                for key, label, points in series
                for p in points
            )
            return CsvTable("timeseries.csv", ["series", "label", "start", *fields], rows)

        return self._answer(body, table)

    @extend_schema(parameters=RANGE_PARAMETERS, responses={200: dict, (200, "text/csv"): bytes})
    @action(detail=False, methods=["get"], url_path="share-of-voice")
    def share_of_voice(self, request: Request) -> Response:
        """Each query's mentions over the range and its share of all queries' mentions: your
        brand and product queries against the competitor ones (`kind`)."""
        v = self._valid(RangeSerializer)
        filters = MetricFilters(source_id=v["filters"].source_id, lang=v["filters"].lang)
        known = list(selectors.query_list().only("id", "name", "kind"))
        totals = metric_totals(
            start=v["start"],
            end=v["end"],
            filters=filters,
            group_by="query",
            keys=[str(q.pk) for q in known],
            cached=True,
        )
        whole = sum(t.volume for t in totals.values())
        rows: list[dict[str, Any]] = []
        for query in known:
            total = totals.get(str(query.pk))
            counts = {f: getattr(total, f) if total else 0 for f in POINT_FIELDS}
            rows.append(
                {
                    "id": query.pk,
                    "name": query.name,
                    "kind": query.kind,
                    **counts,
                    "share": _share(counts["volume"], whole),
                }
            )
        rows.sort(key=lambda r: (-r["volume"], r["name"]))
        body = {"start": v["start"], "end": v["end"], "volume": whole, "results": rows}
        header = ["id", "name", "kind", *POINT_FIELDS, "share"]
        return self._answer(
            body, lambda: CsvTable("share-of-voice.csv", header, ([r[h] for h in header] for r in rows))
        )

    @extend_schema(
        parameters=[*RANGE_PARAMETERS, OpenApiParameter("limit", int)],
        responses={200: dict, (200, "text/csv"): bytes},
    )
    @action(detail=False, methods=["get"], url_path="top-authors")
    def top_authors(self, request: Request) -> Response:
        """The authors with the largest audience (followers) who posted in the range."""
        v = self._valid(TopRangeSerializer)
        authors = metric_top_authors(start=v["start"], end=v["end"], filters=v["filters"], limit=v["limit"])
        rows = [
            {"handle": a.handle, "name": a.name, "followers": a.followers, "mentions": a.mentions}
            for a in authors
        ]
        header = ["handle", "name", "followers", "mentions"]
        body = {"start": v["start"], "end": v["end"], "results": rows}
        return self._answer(
            body, lambda: CsvTable("top-authors.csv", header, ([r[h] for h in header] for r in rows))
        )

    @extend_schema(
        parameters=[*RANGE_PARAMETERS, OpenApiParameter("limit", int)],
        responses={200: dict, (200, "text/csv"): bytes},
    )
    @action(detail=False, methods=["get"], url_path="top-topics")
    def top_topics(self, request: Request) -> Response:
        """The biggest emerging topics alive in the range, with the figures of their latest run
        (volume, growth against the window before, negative share). Query, source and language
        filters do not apply: topics span them."""
        v = self._valid(TopRangeSerializer)
        topics = selectors.topic_top_in_range(start=v["start"], end=v["end"], limit=v["limit"])
        rows = [
            {
                "id": t.pk,
                "label": t.label,
                "terms": " ".join(t.terms[:6]),
                "status": t.status,
                "volume": t.volume,
                "growth": round(t.growth, 4),
                "negative_share": round(t.negative_share, 4),
                "first_seen_at": t.first_seen_at,
            }
            for t in topics
        ]
        header = ["id", "label", "terms", "status", "volume", "growth", "negative_share", "first_seen_at"]
        body = {"start": v["start"], "end": v["end"], "results": rows}
        return self._answer(
            body, lambda: CsvTable("top-topics.csv", header, ([r[h] for h in header] for r in rows))
        )

    @extend_schema(parameters=RANGE_PARAMETERS, responses={200: dict, (200, "text/csv"): bytes})
    @action(detail=False, methods=["get"])
    def sources(self, request: Request) -> Response:
        """Mentions per source over the range, with sentiment, reach and share."""
        v = self._valid(RangeSerializer)
        names = {str(pk): name for pk, name in Source.objects.values_list("id", "name")}
        totals = metric_totals(
            start=v["start"],
            end=v["end"],
            filters=v["filters"],
            group_by="source",
            keys=list(names),
            cached=True,
        )
        return self._breakdown(v, totals, "source", lambda key: names.get(key, key))

    @extend_schema(parameters=RANGE_PARAMETERS, responses={200: dict, (200, "text/csv"): bytes})
    @action(detail=False, methods=["get"])
    def languages(self, request: Request) -> Response:
        """Mentions per detected language over the range (`""`: not recognised)."""
        v = self._valid(RangeSerializer)
        totals = metric_totals(
            start=v["start"], end=v["end"], filters=v["filters"], group_by="lang", cached=True
        )
        return self._breakdown(v, totals, "lang", lambda key: key or "unknown")

    def _breakdown(
        self,
        v: dict[str, Any],
        totals: dict[str | None, MetricPoint],
        key_name: str,
        label: Callable[[str], str],
    ) -> Response:
        whole = sum(t.volume for t in totals.values())
        rows = [
            {
                key_name: int(key) if key_name == "source" else key,
                "label": label(key or ""),
                **{f: getattr(total, f) for f in POINT_FIELDS},
                "share": _share(total.volume, whole),
            }
            for key, total in totals.items()
            if key is not None and total.volume
        ]
        rows.sort(key=lambda r: (-r["volume"], r["label"]))
        header = [key_name, "label", *POINT_FIELDS, "share"]
        body = {"start": v["start"], "end": v["end"], "volume": whole, "results": rows}
        filename = "sources.csv" if key_name == "source" else "languages.csv"
        return self._answer(body, lambda: CsvTable(filename, header, ([r[h] for h in header] for r in rows)))


def _known(group_by: str | None) -> dict[str, str]:
    """Every query or source by key with its name: each gets a series, empty ones too."""
    if group_by == "query":
        return {str(pk): name for pk, name in Query.objects.order_by("name").values_list("id", "name")}
    if group_by == "source":
        return {str(pk): name for pk, name in Source.objects.order_by("name").values_list("id", "name")}
    return {}


Series = list[tuple[str, str, list[MetricPoint]]]


def _series(
    grouped: dict[str | None, list[MetricPoint]], group_by: str | None, known: dict[str, str]
) -> Series:
    """(key, label, points) per series; a sentiment series shows that sentiment's count."""
    if group_by is None:
        return [("all", "All mentions", grouped[None])]
    if group_by == "sentiment":
        return [(sentiment, sentiment.capitalize(), grouped[None]) for sentiment in SENTIMENTS]
    labels = known or {key: key or "unknown" for key in sorted(k or "" for k in grouped)}
    return [(key, label, grouped[key]) for key, label in labels.items()]


def _values(point: MetricPoint, sentiment: str | None) -> tuple[int, ...]:
    if sentiment is not None:
        return (getattr(point, sentiment),)
    return (point.volume, point.positive, point.neutral, point.negative, point.reach)


def _json_time(moment: datetime) -> str:
    """A datetime as DRF's JSON encoder writes it (ECMA 262; UTC as `Z`)."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _series_json(series: Series, *, sentiment: bool) -> list[dict[str, Any]]:
    """The series as the JSON answer lists them. Every series has the same steps, so each step's
    start is formatted once (with hundreds of points per series, the encoder's per-datetime
    fallback was a good part of the request)."""
    starts = [_json_time(p.start) for p in series[0][2]] if series else []
    out = []
    for key, label, points in series:
        if sentiment:
            rows = [{"start": t, "volume": getattr(p, key)} for t, p in zip(starts, points, strict=True)]
        else:
            rows = [
                {
                    "start": t,
                    "volume": p.volume,
                    "positive": p.positive,
                    "neutral": p.neutral,
                    "negative": p.negative,
                    "reach": p.reach,
                }
                for t, p in zip(starts, points, strict=True)
            ]
        out.append({"key": key, "label": label, "points": rows})
    return out
