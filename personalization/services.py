"""Writes of personalization: channels, rule segments, crisis mode, and the two training jobs
(segments, engagement) with their register -> audit -> activate path in the ethics registry.

Contacts are reached only through the consent gate (`ethics.selectors.consented_contacts`):
training reads the contacts permitted for personalization at the moment it starts, and the events
of no one else. A model version is served only once its bias audit passed (the registry's
`active_model_version`); a failing audit leaves the previous version, and its segments, in place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from celery import chain
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from ethics import fairness
from ethics.models import ModelVersion
from ethics.selectors import (
    active_model_version,
    consented_contacts,
    fairness_settings_get,
    model_version_artifact,
)
from ethics.services import (
    model_version_activate,
    model_version_audit,
    model_version_register,
    sensitive_values_for,
    thresholds_for,
)
from personalization import post_services
from personalization.ml.engagement import EngagementModel, Reason, engagement_train, slot_label
from personalization.ml.recommend import (
    CRISIS_NOTE,
    NOT_ENOUGH_DATA,
    PAUSED,
    Estimate,
    RecommendConfig,
    slots_recommend,
    variants_recommend,
)
from personalization.ml.recommend import Message as RecMessage
from personalization.ml.segments import SegmentModel, contact_features, interest_embeddings, segments_train
from personalization.models import (
    ENGAGED_KINDS,
    Channel,
    CrisisModeChange,
    EngagementEvent,
    EngagementKind,
    Message,
    Recommendation,
    RecommendationKind,
    Segment,
    SegmentKind,
    SegmentMembership,
)
from personalization.selectors import ALL_CONTACTS, PERSONALIZATION, crisis_mode_on
from tenants.models import User

SEGMENTS_KIND = "segments"
ENGAGEMENT_KIND = "engagement"
WINDOW_DAYS = 90
# The audit's decision for the engagement model: who would be targeted first (the top fifth).
TARGET_FRACTION = 0.2
MIN_CONTACTS = 2


# Channels ---------------------------------------------------------------------------------------


def channel_create(*, kind: str, name: str, config: dict[str, Any], credentials: str = "") -> Channel:
    if Channel.objects.filter(name=name).exists():
        raise ValidationError({"name": "A channel with this name exists."})
    return Channel.objects.create(kind=kind, name=name, config=config, credentials=credentials)


def channel_update(*, channel: Channel, **fields: Any) -> Channel:
    if "name" in fields and Channel.objects.filter(name=fields["name"]).exclude(pk=channel.pk).exists():
        raise ValidationError({"name": "A channel with this name exists."})
    for name, value in fields.items():
        setattr(channel, name, value)
    channel.save()
    return channel


def message_upsert(*, key: str, text: str, tone: str, media_type: str, call_to_action: bool) -> Message:
    """Store a message's features by key (the sender's id for it); engagement events name it. A new
    or changed text is embedded on the `nlp` queue (its topic, for interests and the model)."""
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(key=key).first()
        changed = message is None or message.text != text
        if message is None:
            message = Message(key=key)
        message.text, message.tone, message.media_type = text, tone, media_type
        message.call_to_action, message.length = call_to_action, len(text)
        if changed:
            message.embedding = None
        message.save()
        if changed:
            from personalization.tasks import embed_messages

            transaction.on_commit(lambda: embed_messages.delay([message.pk]))
    return message


def messages_embed(*, message_ids: list[int]) -> int:
    """Embed the texts of messages that have no embedding yet (all-MiniLM-L6-v2, as mentions)."""
    from listening.nlp.embedder import encode

    pending = list(Message.objects.filter(pk__in=message_ids, embedding__isnull=True).exclude(text=""))
    if not pending:
        return 0
    vectors = encode([m.text for m in pending])
    for message, vector in zip(pending, vectors, strict=True):
        message.embedding = vector.tolist()
    Message.objects.bulk_update(pending, ["embedding"])
    return len(pending)


# Crisis mode ------------------------------------------------------------------------------------


def crisis_mode_set(*, on: bool, reason: str, actor: User | None) -> CrisisModeChange:
    """Switch the tenant's crisis mode; every switch is kept with who and why. While on, timing
    advice is paused (and publishing pauses scheduled posts: it reads the same flag)."""
    if not reason.strip():
        raise ValidationError({"reason": "Say why crisis mode is switched."})
    with transaction.atomic():
        change = CrisisModeChange.objects.create(
            on=on,
            reason=reason.strip(),
            actor=f"user:{actor.pk}" if actor is not None else "system",
            actor_label=(actor.email if actor is not None else "system"),
        )
        # Crisis mode holds every post of the tenant through the tenant-wide pause, and lifting it
        # frees what that pause held (posts whose time passed wait for a person to reschedule).
        target = post_services.PauseTarget(scope="tenant")
        who = post_services.Actor.of(actor, label="crisis mode")
        if on:
            post_services.posts_pause(target=target, reason=f"Crisis mode: {reason.strip()}", actor=who)
        else:
            post_services.posts_resume(target=target, actor=who, reason=f"Crisis mode off: {reason.strip()}")
    return change


# Rule segments ----------------------------------------------------------------------------------

RULE_FIELDS = ("kind", "language", "region", "time_zone")
RULE_OPS = ("eq", "neq", "in")
# An attribute key is a name, never a lookup: `attributes.x__isnull` would reach the ORM as one.
ATTRIBUTE_FIELD = re.compile(r"attributes\.[A-Za-z0-9-]+(?:_[A-Za-z0-9-]+)*")


def _rule_q(rule: dict[str, Any]) -> Q:
    field = rule["field"]
    lookup = field.replace(".", "__", 1) if field.startswith("attributes.") else field
    if rule["op"] == "in":
        return Q(**{f"{lookup}__in": rule["value"]})
    condition = Q(**{lookup: rule["value"]})
    return ~condition if rule["op"] == "neq" else condition


def rules_validate(*, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Attribute filters (all must hold): a contact field or `attributes.<key>`, eq / neq / in."""
    if not rules:
        raise ValidationError({"rules": "Give at least one filter."})
    errors: dict[str, str] = {}
    for index, rule in enumerate(rules):
        field, op, value = rule.get("field"), rule.get("op"), rule.get("value")
        if not isinstance(field, str) or not (field in RULE_FIELDS or ATTRIBUTE_FIELD.fullmatch(field)):
            errors[f"rules.{index}.field"] = (
                f"One of {', '.join(RULE_FIELDS)} or attributes.<key> (letters, digits, - and single _)."
            )
        if op not in RULE_OPS:
            errors[f"rules.{index}.op"] = f"One of {', '.join(RULE_OPS)}."
        elif op == "in" and not (isinstance(value, list) and value and len(value) <= 100):
            errors[f"rules.{index}.value"] = "A list of 1 to 100 values."
        elif op != "in" and not isinstance(value, str | int | float | bool):
            errors[f"rules.{index}.value"] = "A single text, number or true/false."
    if errors:
        raise ValidationError(errors)
    return [{"field": r["field"], "op": r["op"], "value": r["value"]} for r in rules]


def segment_rule_create(*, name: str, rules: list[dict[str, Any]]) -> Segment:
    rules = rules_validate(rules=rules)
    if Segment.objects.filter(kind=SegmentKind.RULE, name=name).exists():
        raise ValidationError({"name": "A rule segment with this name exists."})
    described = "; ".join(f"{r['field']} {r['op']} {r['value']}" for r in rules)
    with transaction.atomic():
        segment = Segment.objects.create(
            kind=SegmentKind.RULE, name=name, rules=rules, description=f"Contacts where {described}."
        )
        segment_rule_refresh(segment=segment)
    return segment


def segment_rule_refresh(*, segment: Segment) -> int:
    """Recompute a rule segment's members among the contacts consented for personalization."""
    query = Q()
    for rule in segment.rules:
        query &= _rule_q(rule)
    members = list(consented_contacts(purpose=PERSONALIZATION).filter(query).values_list("pk", flat=True))
    with transaction.atomic():
        SegmentMembership.objects.filter(segment=segment).delete()
        SegmentMembership.objects.bulk_create(
            SegmentMembership(segment=segment, contact_id=c) for c in members
        )
        segment.size = len(members)
        segment.updated_at = timezone.now()
        segment.save(update_fields=["size", "updated_at"])
    return len(members)


def segment_memberships_withdraw(contact_id: int, purpose: str) -> int:
    """Withdrawal handler: a contact who withdrew personalization leaves every segment at once."""
    if purpose != PERSONALIZATION:
        return 0
    return SegmentMembership.objects.filter(contact_id=contact_id).delete()[0]


# Training data ----------------------------------------------------------------------------------


def _hour_of_week(moments: pd.Series, zones: pd.Series) -> pd.Series:
    """Hour of the week (0 = Monday 00:00) of each moment in its contact's own time zone."""
    out = pd.Series(0, index=moments.index, dtype=np.int64)
    for zone, rows in moments.groupby(zones):
        local = rows.dt.tz_convert(ZoneInfo(str(zone)))
        out.loc[rows.index] = (local.dt.day_of_week * 24 + local.dt.hour).to_numpy(np.int64)
    return out


@dataclass(frozen=True)
class TrainingData:
    contacts: pd.DataFrame  # index: contact id; time_zone, kind, region, language, attributes
    deliveries: pd.DataFrame  # contact, channel, message, hour_of_week, sent_at, engaged
    excluded: int  # contacts with events the gate held back


def _training_data(*, now: datetime) -> TrainingData:
    gate = consented_contacts(purpose=PERSONALIZATION)
    contacts = pd.DataFrame.from_records(
        list(gate.values("pk", "time_zone", "kind", "region", "language", "attributes")),
        columns=["pk", "time_zone", "kind", "region", "language", "attributes"],
    ).set_index("pk")
    since = now - timedelta(days=WINDOW_DAYS)
    events = EngagementEvent.objects.filter(occurred_at__gte=since, occurred_at__lte=now)
    allowed = events.filter(contact__in=gate.values("pk"))
    # Channel-level events (no contact: a public post, its favourites) are no person's data.
    excluded = (
        events.filter(contact__isnull=False)
        .exclude(contact__in=gate.values("pk"))
        .values("contact_id")
        .distinct()
        .count()
    )
    rows = pd.DataFrame.from_records(
        list(allowed.values_list("contact_id", "channel__name", "message_id", "kind", "occurred_at")),
        columns=["contact", "channel", "message", "kind", "sent_at"],
    )
    if rows.empty:
        return TrainingData(contacts, rows.assign(hour_of_week=[], engaged=[]), excluded)
    rows["message"] = rows["message"].fillna(-1).astype(np.int64)
    engaged = rows.loc[rows["kind"].isin([str(k) for k in ENGAGED_KINDS]), ["contact", "channel", "message"]]
    engaged = engaged.drop_duplicates().assign(engaged=True)
    deliveries = rows.loc[rows["kind"] == EngagementKind.DELIVERED].drop(columns="kind")
    deliveries = deliveries.merge(engaged, on=["contact", "channel", "message"], how="left")
    deliveries["engaged"] = deliveries["engaged"].astype("boolean").fillna(False).astype(bool)
    deliveries["sent_at"] = pd.to_datetime(deliveries["sent_at"], utc=True)
    zones = deliveries["contact"].map(contacts["time_zone"]).fillna("UTC")
    deliveries["hour_of_week"] = _hour_of_week(deliveries["sent_at"], zones)
    return TrainingData(contacts, deliveries, excluded)


def _embeddings(message_ids: list[int]) -> dict[int, np.ndarray]:
    known = Message.objects.filter(pk__in=message_ids, embedding__isnull=False).values_list("pk", "embedding")
    return {pk: np.asarray(vector, dtype=np.float64) for pk, vector in known}


def _sensitive(contacts: pd.DataFrame, ids: list[int]) -> dict[str, list[Any]]:
    rows = [
        {
            "kind": c.kind,
            "region": c.region,
            "language": c.language,
            "time_zone": c.time_zone,
            "attributes": c.attributes,
        }
        for c in contacts.loc[ids].itertuples()
    ]
    return sensitive_values_for(rows=rows)


def _audit_activate(version: ModelVersion, **audit: Any) -> ModelVersion:
    """Audit, and activate only on a pass: a failing version stays `rejected`, never served."""
    version = model_version_audit(version=version, **audit)
    if version.audit_passed:
        version = model_version_activate(version=version, by=None)
    return version


# Segmentation job -------------------------------------------------------------------------------


def _previous_segments() -> SegmentModel | None:
    version = active_model_version(kind=SEGMENTS_KIND)
    if version is None:
        return None
    return SegmentModel.from_json(model_version_artifact(version=version).decode())


def training_request() -> list[str]:
    """Queue the segmentation job and then the engagement model's training (queue `ml`), once the
    caller's transaction commits. Returns the tasks queued, in order."""
    from personalization.tasks import train_engagement, train_segments

    transaction.on_commit(lambda: chain(train_segments.si(), train_engagement.si()).delay())
    return ["train_segments", "train_engagement"]


def segments_retrain(*, now: datetime | None = None) -> ModelVersion | None:
    """Train segments on consented contacts' behaviour and interests, keep ids of segments found
    again, register and audit the version, and (if it passes) activate it and write the Segment rows
    and memberships. None when there is too little to learn from."""
    now = now or timezone.now()
    data = _training_data(now=now)
    if data.deliveries.empty:
        return None
    behaviour = contact_features(deliveries=data.deliveries, now=now, window_days=WINDOW_DAYS)
    if len(behaviour) < MIN_CONTACTS:
        return None
    engaged = data.deliveries.loc[data.deliveries["engaged"] & (data.deliveries["message"] >= 0)]
    vectors = _embeddings(sorted(set(engaged["message"].tolist())))
    embeddings = None
    if vectors:
        order = sorted(vectors)
        position = {pk: i for i, pk in enumerate(order)}
        usable = engaged.loc[engaged["message"].isin(position)]
        embeddings = interest_embeddings(
            contacts=list(behaviour.index),
            engaged_contacts=usable["contact"].tolist(),
            engaged_content=[position[m] for m in usable["message"]],
            embeddings=np.vstack([vectors[pk] for pk in order]),
        )
    model = segments_train(behaviour=behaviour, embeddings=embeddings, previous=_previous_segments())
    numbers = model.assign(behaviour, embeddings)
    version = model_version_register(
        kind=SEGMENTS_KIND,
        artifact=model.to_json().encode(),
        artifact_name="segments.json",
        trained_by=None,
        purpose="Group consented contacts by behaviour and interests for message and timing advice.",
        algorithm="k-means (k chosen by silhouette) on behaviour features and interest embeddings",
        training_window=(now - timedelta(days=WINDOW_DAYS), now),
        training_rows=len(behaviour),
        training_rows_excluded=data.excluded,
        features=list(behaviour.columns) + (["interest_embedding"] if embeddings is not None else []),
        metrics={"segments": float(len(model.ids))},
        limitations=["Contacts without deliveries in the window are not segmented."],
    )
    ids = [int(c) for c in behaviour.index]
    sensitive = _sensitive(data.contacts, ids)
    version = _audit_activate(version, sensitive=sensitive, y_pred=_binding_segment(numbers, sensitive))
    if version.audit_passed:
        _segments_store(model=model, version=version, contact_ids=ids, numbers=numbers.tolist())
    return version


def _binding_segment(numbers: np.ndarray, sensitive: dict[str, list[Any]]) -> list[int]:
    """The decision audited: membership of one segment against the rest, for the segment whose
    membership is least even across groups (a failure there fails the version). Each segment is
    checked with the same audit and the tenant's thresholds; the first failing one, else the
    largest, is the one recorded."""
    thresholds = thresholds_for(fairness_settings_get())
    unique, counts = np.unique(numbers, return_counts=True)
    for number in unique[np.argsort(-counts)]:
        decisions = (numbers == number).astype(int)
        if not sensitive:
            return decisions.tolist()
        report = fairness.audit(y_pred=decisions, sensitive=sensitive, thresholds=thresholds)
        if not report.passed:
            return decisions.tolist()
    return (numbers == unique[np.argmax(counts)]).astype(int).tolist()


def _segments_store(
    *, model: SegmentModel, version: ModelVersion, contact_ids: list[int], numbers: list[int]
) -> None:
    now = timezone.now()
    with transaction.atomic():
        kept = []
        for description in model.descriptions:
            segment, _ = Segment.objects.update_or_create(
                kind=SegmentKind.MODEL,
                number=description.id,
                defaults={
                    "name": f"Segment {description.id}",
                    "description": description.text,
                    "size": description.size,
                    "share": description.share,
                    "typical_channel": description.channel or "",
                    "typical_time": description.time or "",
                    "model_version": version,
                    "is_active": True,
                    "updated_at": now,
                },
            )
            kept.append(segment)
        Segment.objects.filter(kind=SegmentKind.MODEL).exclude(pk__in=[s.pk for s in kept]).update(
            is_active=False, size=0, updated_at=now
        )
        SegmentMembership.objects.filter(segment__kind=SegmentKind.MODEL).delete()
        by_number = {s.number: s for s in kept}
        SegmentMembership.objects.bulk_create(
            (
                SegmentMembership(segment=by_number[n], contact_id=c)
                for c, n in zip(contact_ids, numbers, strict=True)
            ),
            batch_size=5000,
        )
    for segment in Segment.objects.filter(kind=SegmentKind.RULE):
        segment_rule_refresh(segment=segment)


# Engagement model job ---------------------------------------------------------------------------


def _segment_of_contacts() -> dict[int, str]:
    """Each contact's learnt segment (its stable number, as text); the rest count as 'all'."""
    rows = SegmentMembership.objects.filter(segment__kind=SegmentKind.MODEL, segment__is_active=True)
    return {c: str(n) for c, n in rows.values_list("contact_id", "segment__number")}


def engagement_retrain(*, now: datetime | None = None) -> ModelVersion | None:
    """Aggregate consented contacts' deliveries into sends (segment, channel, message, local hour of
    week), train the core's engagement model, register, audit (decision: the top fifth of contacts
    by predicted engagement) and activate on a pass. None when there are no deliveries."""
    now = now or timezone.now()
    data = _training_data(now=now)
    if data.deliveries.empty:
        return None
    deliveries = data.deliveries
    segment_of = _segment_of_contacts()
    deliveries["segment"] = deliveries["contact"].map(segment_of).fillna(ALL_CONTACTS)
    messages = {
        pk: (tone, media, int(cta), length)
        for pk, tone, media, cta, length in Message.objects.filter(
            pk__in=deliveries["message"].unique().tolist()
        ).values_list("pk", "tone", "media_type", "call_to_action", "length")
    }
    plain = ("neutral", "text", 0, 0)
    described = deliveries["message"].map(lambda m: messages.get(m, plain))
    deliveries["tone"] = [d[0] for d in described]
    deliveries["media_type"] = [d[1] for d in described]
    deliveries["call_to_action"] = [d[2] for d in described]
    deliveries["length"] = [d[3] for d in described]
    keys = ["segment", "channel", "message", "tone", "media_type", "call_to_action", "length", "hour_of_week"]
    # A send's time is its first delivery: the model's recent level per segment and channel is
    # taken over the sends before each one (personalization.ml.engagement._Levels).
    sends = (
        deliveries.groupby(keys, observed=True)
        .agg(exposures=("engaged", "size"), engagements=("engaged", "sum"), sent_at=("sent_at", "min"))
        .reset_index()
    )
    vectors = _embeddings(sends["message"].unique().tolist())
    embeddings = None
    if vectors and sends["message"].isin(vectors).all():
        embeddings = np.vstack([vectors[m] for m in sends["message"]])
    model = engagement_train(frame=sends.drop(columns="message"), embeddings=embeddings)
    version = model_version_register(
        kind=ENGAGEMENT_KIND,
        artifact=model.to_json().encode(),
        artifact_name="engagement.json",
        trained_by=None,
        purpose="Predict engagement per segment, channel, message format and local hour of the week.",
        algorithm="LightGBM Poisson regression on the recent level, bootstrap ensemble",
        training_window=(now - timedelta(days=WINDOW_DAYS), now),
        training_rows=len(sends),
        training_rows_excluded=data.excluded,
        features=[
            *keys[:2],
            *keys[3:],
            "recent_level",
            *(["topic_embedding"] if embeddings is not None else []),
        ],
        metrics={"sends": float(len(sends)), "deliveries": float(len(deliveries))},
        limitations=["Below the minimum history per segment and channel, advice falls back to averages."],
    )
    scores = _contact_scores(model, deliveries.drop(columns=["message"]))
    ids = [int(c) for c in scores.index]
    engaged_any = deliveries.groupby("contact")["engaged"].any().reindex(scores.index).astype(int)
    return _audit_activate(
        version,
        sensitive=_sensitive(data.contacts, ids),
        scores=scores.to_numpy(np.float64).tolist(),
        top_fraction=TARGET_FRACTION,
        y_true=engaged_any.tolist(),
    )


def _contact_scores(model: EngagementModel, deliveries: pd.DataFrame) -> pd.Series:
    """Each contact's mean predicted engagement rate over their deliveries (typical topic)."""
    prediction = model.predict(deliveries)
    return pd.Series(prediction.rate, index=deliveries.index).groupby(deliveries["contact"]).mean()


def active_engagement_model() -> tuple[EngagementModel, ModelVersion] | None:
    version = active_model_version(kind=ENGAGEMENT_KIND)
    if version is None:
        return None
    return EngagementModel.from_json(model_version_artifact(version=version).decode()), version


def segments_for_advice() -> QuerySet[Segment]:
    return Segment.objects.filter(kind=SegmentKind.MODEL, is_active=True).order_by("number")


# Recommendations --------------------------------------------------------------------------------

NO_MODEL_NOTE = "No engagement model is active yet (none trained, or none passed its bias audit): no advice."


def _jsonable(value: Any) -> Any:
    if isinstance(value, Estimate):
        # Rates here are engaged deliveries per delivery, so a probability: the log-link model and
        # its widened interval can overshoot 1 where history is thin, which no reader should see.
        return {
            "rate": min(max(value.rate, 0.0), 1.0),
            "low": min(max(value.low, 0.0), 1.0),
            "high": min(max(value.high, 0.0), 1.0),
            "confidence": value.confidence,
        }
    if isinstance(value, Reason):
        return {"group": value.group, "label": value.label, "effect": value.effect, "text": value.text}
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value) if f.name != "embedding"}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, np.floating | np.integer):
        return value.item()
    return value


def _targets(segments: list[Segment]) -> list[tuple[Segment | None, str]]:
    """(segment row, label the model knows it by); without learnt segments, everyone as one."""
    return [(s, str(s.number)) for s in segments] or [(None, ALL_CONTACTS)]


def _config() -> RecommendConfig:
    return RecommendConfig(
        exploration_rate=settings.PERSONALIZATION_EXPLORATION_RATE,
        min_exposures=settings.PERSONALIZATION_MIN_EXPOSURES,
    )


def _actor(user: User | None) -> str:
    return f"user:{user.pk}" if user is not None else "system"


def variants_advise(
    *,
    variants: list[dict[str, Any]],
    channel: Channel,
    hour_of_week: int,
    segments: list[Segment],
    actor: User | None,
) -> list[Recommendation]:
    """Which variant of a draft to send to each segment on `channel` at `hour_of_week`; each piece
    of advice is stored as given."""
    messages = [
        RecMessage(
            key=v["key"],
            tone=v["tone"],
            media_type=v["media_type"],
            call_to_action=v["call_to_action"],
            length=len(v["text"]),
        )
        for v in variants
    ]
    loaded = active_engagement_model()
    targets = _targets(segments)
    rows = []
    if loaded is None:
        for segment, label in targets:
            advice = {
                "segment": label,
                "channel": channel.name,
                "status": NOT_ENOUGH_DATA,
                "basis": "none",
                "note": NO_MODEL_NOTE,
            }
            rows.append(
                _recommendation(RecommendationKind.VARIANT, segment, label, channel, advice, None, actor)
            )
    else:
        model, version = loaded
        advice_list = variants_recommend(
            model=model,
            messages=messages,
            segments=[label for _, label in targets],
            channel=channel.name,
            hour_of_week=hour_of_week,
            config=_config(),
        )
        for (segment, label), given in zip(targets, advice_list, strict=True):
            rows.append(
                _recommendation(
                    RecommendationKind.VARIANT, segment, label, channel, _jsonable(given), version, actor
                )
            )
    return Recommendation.objects.bulk_create(rows)


def _segment_zone(segment: Segment | None) -> str:
    """The time zone most of the segment's (consented) members live in."""
    members = consented_contacts(purpose=PERSONALIZATION)
    if segment is not None:
        members = members.filter(segment_memberships__segment=segment)
    top = members.values("time_zone").annotate(n=Count("pk")).order_by("-n", "time_zone").first()
    return top["time_zone"] if top else "UTC"


def slots_advise(
    *, channel: Channel, segments: list[Segment], actor: User | None, now: datetime | None = None
) -> list[Recommendation]:
    """The best three slots of the coming week per segment on `channel`, in the segment's time zone;
    paused while the tenant is in crisis mode."""
    now = now or timezone.now()
    crisis = crisis_mode_on()
    loaded = active_engagement_model()
    rows = []
    for segment, label in _targets(segments):
        if crisis:
            advice: dict[str, Any] = {
                "segment": label,
                "channel": channel.name,
                "status": PAUSED,
                "basis": "none",
                "note": CRISIS_NOTE,
                "slots": [],
            }
            version = None
        elif loaded is None:
            advice = {
                "segment": label,
                "channel": channel.name,
                "status": NOT_ENOUGH_DATA,
                "basis": "none",
                "note": NO_MODEL_NOTE,
                "slots": [],
            }
            version = None
        else:
            model, version = loaded
            advice_zone = _segment_zone(segment)
            advice = _jsonable(
                slots_recommend(
                    model=model,
                    segment=label,
                    channel=channel.name,
                    now=now,
                    timezone=advice_zone,
                    config=_config(),
                )
            )
            for slot in advice["slots"]:
                slot["label"] = f"{slot_label(slot['hour_of_week'])} ({advice_zone})"
        rows.append(
            _recommendation(RecommendationKind.SLOTS, segment, label, channel, advice, version, actor)
        )
    return Recommendation.objects.bulk_create(rows)


def _recommendation(
    kind: str,
    segment: Segment | None,
    label: str,
    channel: Channel,
    advice: dict[str, Any],
    version: ModelVersion | None,
    actor: User | None,
) -> Recommendation:
    exploration = bool(advice.get("exploration")) or any(
        s.get("exploration") for s in advice.get("slots", [])
    )
    return Recommendation(
        kind=kind,
        segment=segment,
        segment_label=label,
        channel=channel,
        status=advice["status"],
        basis=advice["basis"],
        exploration=exploration,
        advice=advice,
        model_version=version,
        requested_by=_actor(actor),
    )
