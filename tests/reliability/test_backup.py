"""Backup and restore of one tenant into a fresh database (a second database on the embedded server,
migrated from scratch), through the management commands, and the archive's refusals.

The restored tenant must be identical: every table of its schema compared row by row (an md5 over
the ordered rows), its sequences, indexes, constraints and triggers, its rows in the shared tables,
and its consent ledger's hash chain must still verify there."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context
from psycopg import sql

from config.embedded import url_for
from ethics.models import Purpose
from listening.models import Alert, AlertKind, Mention, Source, SourceKind
from listening.nlp.embedder import EMBEDDING_DIM
from listening.services import alerts
from listening.services.metrics import metrics_count_enriched
from personalization import post_services
from personalization.post_models import ScheduledPost
from tenants.backup import FORMAT_VERSION
from tenants.models import Agency, AuditEvent, Membership, Role, Tenant, User
from tenants.services import agency_member_set, tenant_create, token_create
from tests.conftest import World
from tests.ethics.conftest import make_contact, record

pytestmark = pytest.mark.worker  # subprocesses migrate a second database (about half a minute)

REPO = Path(__file__).resolve().parents[2]


def _manage(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url,
        "CANDOR_DATA_DIR": str(settings.DATA_DIR),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


def _fill(tenant: Tenant, owner: User) -> None:
    """Data in many tables: mentions with embeddings and tags, metric buckets, an alert with its
    evidence and notifications, consent events (the hash chain), contacts, a scheduled post."""
    rng = np.random.default_rng(3)
    with tenant_context(tenant):
        source = Source.objects.create(name="backup feed", kind=SourceKind.API)
        now = timezone.now()
        mentions = Mention.objects.bulk_create(
            [
                Mention(
                    source=source,
                    external_id=f"m{i}",
                    text=f"Acme outage report {i}: the API is down" if i % 3 == 0 else f"Acme is fine {i}",
                    author_handle=f"@user{i % 7}",
                    author_followers=i * 10,
                    posted_at=now - timedelta(minutes=i),
                    lang="en",
                    sentiment="negative" if i % 3 == 0 else "positive",
                    sentiment_score=0.5 + i / 100,
                    embedding=rng.normal(size=EMBEDDING_DIM).astype(np.float32),
                    enriched_at=now,
                    enrich_attempts=1,
                    raw={"i": i, "tags": ["a", "b"]},
                )
                for i in range(40)
            ]
        )
        metrics_count_enriched(mention_ids=[m.pk for m in mentions])
        alerts.alert_rule_create(name="outage", kind=AlertKind.KEYWORD, expression="outage")
        alerts.keyword_rules_evaluate(mention_ids=[m.pk for m in mentions])
        assert Alert.objects.count() == 1
        for n in range(3):
            contact = make_contact(email=f"person{n}@example.org", handles=[])
            record(contact, "outreach", actor=f"user:{owner.pk}")
            if n == 1:
                record(contact, "outreach", action="withdraw", actor=f"user:{owner.pk}")
        channel = post_services.publishing_channel_create(
            name="Backup list", kind="email", consent_purpose="outreach"
        )
        actor = post_services.Actor(owner.pk, owner.email)
        post = post_services.scheduled_post_create(
            channel=channel, text="Status update", actor=actor, scheduled_at=now + timedelta(days=1)
        )
        post_services.scheduled_post_approve(post=post, actor=actor)
        assert ScheduledPost.objects.count() == 1 and Purpose.objects.exists()


@pytest.fixture(scope="module")
def source_tenant(committed: World) -> Iterator[Tenant]:
    marker = secrets.token_hex(3)
    agency = Agency.objects.create(name=f"Backup agency {marker}", slug=f"bk-agency-{marker}")
    owner = User.objects.create_user(f"bk-owner-{marker}@example.com", "pw-backup-12345", full_name="Owner")
    staff = User.objects.create_user(f"bk-staff-{marker}@example.com", full_name="Agency staff")
    agency_member_set(agency=agency, user=staff, role=Role.ADMIN)
    tenant = tenant_create(name="Backup source", slug=f"bk-src-{marker}", agency=agency, owner=owner)
    Membership.objects.create(user=staff, tenant=tenant, role=Role.VIEWER)
    token_create(user=owner, name="ci", scope="write", tenants=[tenant])
    _fill(tenant, owner)
    yield tenant
    connection.set_schema_to_public()
    restored = Tenant.objects.get(slug=tenant.slug)  # --replace makes a new row
    AuditEvent.objects.filter(tenant=restored).delete()
    restored.delete()
    User.objects.filter(pk__in=[owner.pk, staff.pk]).delete()
    agency.delete()


@pytest.fixture(scope="module")
def archive(source_tenant: Tenant, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backup") / "tenant.candor"
    call_command("tenant_backup", tenant=source_tenant.slug, output=str(path))
    return path


@pytest.fixture(scope="module")
def fresh_database(committed: World) -> Iterator[str]:
    """A second, empty database on the same server, migrated and set up as a new installation."""
    name = f"candor_fresh_{secrets.token_hex(4)}"
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = url_for({**settings.DATABASES["default"], "NAME": name})
    try:
        code = (
            "from django.core.management import call_command as c;"
            " c('migrate_schemas', shared=True, verbosity=0); c('platform_setup')"
        )
        done = _manage(url, "shell", "-c", code)
        assert done.returncode == 0, done.stderr[-3000:]
        yield url
    finally:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _tables(conn: psycopg.Connection[Any], schema: str) -> dict[str, tuple[int, str]]:
    """Every table's row count and an md5 over its ordered rows."""
    out = {}
    tables = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1",
        [schema],
    ).fetchall()
    for (table,) in tables:
        count, digest = conn.execute(
            sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), ''))"
                " FROM {}.{} AS t"
            ).format(sql.Identifier(schema), sql.Identifier(table))
        ).fetchone()
        out[table] = (count, digest)
    return out


def _structure(conn: psycopg.Connection[Any], schema: str) -> dict[str, Any]:
    """Sequences at their values, indexes, constraints and triggers, with the schema name taken out."""
    sequences = {}
    for (name,) in conn.execute(
        "SELECT sequencename FROM pg_sequences WHERE schemaname = %s ORDER BY 1", [schema]
    ).fetchall():
        sequences[name] = conn.execute(
            sql.SQL("SELECT last_value, is_called FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(name)
            )
        ).fetchone()
    indexes = conn.execute(
        "SELECT indexname, replace(indexdef, %s, '') FROM pg_indexes WHERE schemaname = %s ORDER BY 1",
        [schema + ".", schema],
    ).fetchall()
    constraints = conn.execute(
        "SELECT c.conname, replace(pg_get_constraintdef(c.oid), %s, '') FROM pg_constraint c"
        " JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = %s ORDER BY 1, 2",
        [schema + ".", schema],
    ).fetchall()
    triggers = conn.execute(
        "SELECT t.tgname, replace(pg_get_triggerdef(t.oid), %s, '') FROM pg_trigger t"
        " JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND NOT t.tgisinternal ORDER BY 1",
        [schema + ".", schema],
    ).fetchall()
    columns = conn.execute(
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a"
        " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, 2",
        [schema],
    ).fetchall()
    return {
        "sequences": sequences,
        "indexes": indexes,
        "constraints": constraints,
        "triggers": triggers,
        "columns": columns,
    }


_SHARED = {
    "tenant": "SELECT t.name, t.slug, t.schema_name, t.is_client, t.created_at, a.slug FROM tenants_tenant t"
    " LEFT JOIN tenants_agency a ON a.id = t.agency_id WHERE t.slug = %(slug)s",
    "domains": "SELECT d.domain, d.is_primary FROM tenants_domain d"
    " JOIN tenants_tenant t ON t.id = d.tenant_id WHERE t.slug = %(slug)s",
    "agency": "SELECT a.name, a.slug, a.created_at FROM tenants_agency a JOIN tenants_tenant t"
    " ON t.agency_id = a.id WHERE t.slug = %(slug)s",
    "agency_staff": "SELECT m.user_id, m.role, m.created_at FROM tenants_agencymembership m"
    " JOIN tenants_tenant t ON t.agency_id = m.agency_id WHERE t.slug = %(slug)s",
    "memberships": "SELECT m.user_id, m.role, m.created_at FROM tenants_membership m JOIN tenants_tenant t"
    " ON t.id = m.tenant_id WHERE t.slug = %(slug)s",
    "users": "SELECT u.id, u.email, u.password, u.full_name, u.is_active, u.is_staff, u.is_superuser,"
    " u.date_joined, u.last_login FROM tenants_user u WHERE u.id IN (SELECT m.user_id"
    " FROM tenants_membership m JOIN tenants_tenant t ON t.id = m.tenant_id WHERE t.slug = %(slug)s)",
    "tokens": "SELECT k.name, k.prefix, k.digest, k.user_id, k.created_by_id, k.scope, k.created_at,"
    " k.expires_at, k.last_used_at, k.revoked_at FROM tenants_apitoken k JOIN tenants_apitoken_tenants x"
    " ON x.apitoken_id = k.id JOIN tenants_tenant t ON t.id = x.tenant_id WHERE t.slug = %(slug)s",
    "audit": "SELECT e.created_at, e.action, e.actor_id, e.actor_label, e.target, host(e.ip_address),"
    " e.user_agent, e.details::text, a.slug FROM tenants_auditevent e JOIN tenants_tenant t"
    " ON t.id = e.tenant_id LEFT JOIN tenants_agency a ON a.id = e.agency_id WHERE t.slug = %(slug)s",
}


def _shared(conn: psycopg.Connection[Any], slug: str) -> dict[str, list[Any]]:
    return {
        key: sorted(conn.execute(query, {"slug": slug}).fetchall(), key=repr)
        for key, query in _SHARED.items()
    }


def _snapshot(url: str, slug: str, schema: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {
            "tables": _tables(conn, schema),
            "structure": _structure(conn, schema),
            "shared": _shared(conn, slug),
        }


def test_a_tenant_restored_into_a_fresh_database_is_identical(source_tenant, archive, fresh_database):
    source_url = url_for(settings.DATABASES["default"])
    before = _snapshot(source_url, source_tenant.slug, source_tenant.schema_name)
    assert before["tables"]["listening_mention"][0] == 40
    assert before["tables"]["ethics_consentevent"][0] == 4
    assert all(before["shared"].values()), before["shared"]

    # --as: a copy under another slug and schema (while the archive's schema is not there).
    copy = _manage(fresh_database, "tenant_restore", "--input", str(archive), "--as", "bk-copy")
    assert copy.returncode == 0, copy.stderr[-3000:]
    assert "bk-copy.localhost" in copy.stdout
    copied = _snapshot(fresh_database, "bk-copy", "t_bk_copy")
    assert copied["tables"] == before["tables"]
    assert copied["structure"] == before["structure"]
    assert copied["shared"]["domains"] == [("bk-copy.localhost", True)]
    assert copied["shared"]["memberships"] == before["shared"]["memberships"]
    assert copied["shared"]["tokens"] == before["shared"]["tokens"]

    # The tenant itself, under its own name: identical, schema and shared rows.
    done = _manage(fresh_database, "tenant_restore", "--input", str(archive))
    assert done.returncode == 0, done.stderr[-3000:]
    after = _snapshot(fresh_database, source_tenant.slug, source_tenant.schema_name)
    assert after["tables"] == before["tables"]
    assert after["structure"] == before["structure"]
    assert after["shared"] == before["shared"]

    verified = _manage(fresh_database, "consent_verify", "--tenant", source_tenant.slug)
    assert verified.returncode == 0 and ": ok, 4 events" in verified.stdout, verified.stdout + verified.stderr
    schema = sql.Identifier(source_tenant.schema_name)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        # The ledger's append-only triggers came with it.
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(sql.SQL("UPDATE {}.ethics_consentevent SET actor = 'forged'").format(schema))
        # The vectors are usable: a nearest-neighbour query over the restored embeddings.
        nearest = conn.execute(
            sql.SQL(
                "SELECT count(*) FROM (SELECT id FROM {0}.listening_mention ORDER BY embedding <=>"
                " (SELECT embedding FROM {0}.listening_mention ORDER BY id LIMIT 1) LIMIT 5) AS s"
            ).format(schema)
        ).fetchone()[0]
    assert nearest == 5


def test_replace_restores_over_the_live_tenant_with_nothing_doubled(source_tenant, archive):
    url = url_for(settings.DATABASES["default"])
    before = _snapshot(url, source_tenant.slug, source_tenant.schema_name)
    with tenant_context(source_tenant):
        Mention.objects.filter(external_id__in=["m1", "m2"]).delete()  # a mistake, to undo
    call_command("tenant_restore", input=str(archive), replace=True)
    assert _snapshot(url, source_tenant.slug, source_tenant.schema_name) == before


def test_restore_over_an_existing_tenant_is_refused(source_tenant, archive):
    with pytest.raises(CommandError, match="already exists here"):
        call_command("tenant_restore", input=str(archive))


def test_a_copy_beside_its_original_in_the_same_database_is_refused(source_tenant, archive):
    with pytest.raises(CommandError, match="another database"):
        call_command("tenant_restore", input=str(archive), slug="bk-beside")
    assert not Tenant.objects.filter(slug="bk-beside").exists()


def _rewrite(source: Path, target: Path, change: Any) -> Path:
    """Copy an archive, passing each member's (name, bytes) through `change` (None drops it)."""
    with tarfile.open(source) as old, tarfile.open(target, "w") as new:
        for member in old.getmembers():
            data = old.extractfile(member).read()
            changed = change(member.name, data)
            if changed is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(changed)
            new.addfile(info, io.BytesIO(changed))
    return target


def _manifest_with(**fields: Any) -> Any:
    def change(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        return json.dumps({**json.loads(data), **fields}).encode()

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda name, data: data[:-40] + b"x" * 40 if name == "schema.dump" else data,
            "damaged: schema.dump",
        ),
        (lambda name, data: None if name == "shared.json" else data, "damaged: shared.json is missing"),
        (lambda name, data: None if name == "manifest.json" else data, "not a Candor tenant backup"),
        (_manifest_with(format="someone-else"), "not a Candor tenant backup"),
        (_manifest_with(version=FORMAT_VERSION + 1), f"format version {FORMAT_VERSION + 1}"),
    ],
    ids=["flipped-bytes", "missing-member", "no-manifest", "foreign-format", "newer-version"],
)
def test_a_damaged_or_foreign_archive_is_refused(archive, tmp_path, change, message):
    bad = _rewrite(archive, tmp_path / "bad.candor", change)
    with pytest.raises(CommandError, match=message):
        call_command("tenant_restore", input=str(bad), slug="bk-never")
    assert not Tenant.objects.filter(slug="bk-never").exists()


def test_a_file_that_is_not_an_archive_is_refused(committed, tmp_path):
    junk = tmp_path / "junk.candor"
    junk.write_bytes(b"PGDMP" + os.urandom(2000))
    with pytest.raises(CommandError, match="not a Candor tenant backup"):
        call_command("tenant_restore", input=str(junk))
    with pytest.raises(CommandError, match="no such file"):
        call_command("tenant_restore", input=str(tmp_path / "missing.candor"))


def test_backup_of_an_unknown_tenant_is_refused(committed, tmp_path):
    with pytest.raises(CommandError, match="no client tenant 'nobody-here'"):
        call_command("tenant_backup", tenant="nobody-here", output=str(tmp_path / "x"))
    assert not (tmp_path / "x").exists()
