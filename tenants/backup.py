"""Backup and restore of one tenant: its schema and its rows in the shared (public) tables.

An archive is one uncompressed tar file:

- `manifest.json`: the format name and version, the tenant, the schema, the PostgreSQL versions, the
  migrations the tenant's schema and the public schema had, and a SHA-256 of every other member;
- `schema.dump`: `pg_dump --format=custom --schema=<schema>` (every table with its rows, sequences at
  their values, pgvector columns, indexes, constraints and triggers), taken in the same snapshot as
  the shared rows (`pg_export_snapshot`), so the two halves agree;
- `shared.json`: the Tenant and its Domain rows, its agency and the agency's staff, Membership rows,
  every user these rows reference, the API tokens that reach the tenant, and its audit events
  (Django's JSON serialisation);
- `media/...`: the tenant's stored files (MEDIA_ROOT/<schema>/).

Users keep their ids on restore: tenant tables name users by id (`created_by_id`, `assignee_id`) and
the consent ledger's hashed events name their actor as `user:<id>`, so an id cannot be remapped
without breaking the chain. A restore that would need to remap one (another user holds the id, or
the email under another id) is refused before anything is written. Secrets at rest (channel
credentials, the ledger key) stay encrypted with the source's CANDOR_ENCRYPTION_KEYS / SECRET_KEY:
the target installation needs the same keys.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import serializers
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.migrations.loader import MigrationLoader
from django_tenants.utils import schema_exists
from psycopg import sql

from tenants.models import (
    Agency,
    AgencyMembership,
    ApiToken,
    AuditEvent,
    Domain,
    Membership,
    Tenant,
    User,
    slug_validator,
)
from tenants.services import RESERVED_SLUGS, _schema_for_slug, tenant_domain

logger = logging.getLogger(__name__)

FORMAT = "candor-tenant-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SCHEMA_DUMP = "schema.dump"
SHARED = "shared.json"
MEDIA_PREFIX = "media/"
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    tables: int
    users: int
    audit_events: int


@dataclass(frozen=True)
class RestoreResult:
    tenant: Tenant
    users_created: int
    users_reused: int
    tokens: int
    audit_events: int


# PostgreSQL client programs -------------------------------------------------------------------------


def _server_major() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        return int(cursor.fetchone()[0]) // 10000


def _program_major(path: str) -> int | None:
    try:
        # A PostgreSQL client program named by configuration or found next to the server.
        out = subprocess.run(  # noqa: S603
            [path, "--version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out.stdout)
    return int(match.group(1)) if match else None


def pg_program(name: str, *, at_least: int) -> tuple[str, int]:
    """The first `pg_dump`/`pg_restore` of at least the given major version: from CANDOR_PG_BIN_DIR,
    then the embedded server's own (pgserver ships PostgreSQL 16's), then PATH. An older client
    refuses a newer server (Debian 12's pg_dump is 15; the embedded server is 16)."""
    candidates: list[str] = []
    configured = os.environ.get("CANDOR_PG_BIN_DIR", "")
    if configured:
        candidates.append(str(Path(configured) / name))
    try:
        from pgserver._commands import POSTGRES_BIN_PATH

        candidates.append(str(Path(POSTGRES_BIN_PATH) / name))
    except ImportError:
        pass
    found = shutil.which(name)
    if found:
        candidates.append(found)
    seen = []
    for candidate in candidates:
        major = _program_major(candidate)
        if major is not None:
            seen.append(f"{candidate} ({major})")
            if major >= at_least:
                return candidate, major
    raise BackupError(
        f"no {name} of PostgreSQL {at_least} or newer found (tried: {', '.join(seen) or 'none'});"
        " set CANDOR_PG_BIN_DIR to the bin folder of a matching PostgreSQL client"
    )


def _connection_args() -> tuple[list[str], dict[str, str]]:
    db = connection.settings_dict
    host = db.get("HOST") or db.get("OPTIONS", {}).get("host", "")
    args = ["--dbname", str(db["NAME"])]
    if host:
        args += ["--host", str(host)]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return args, env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    # pg_dump/pg_restore from pg_program, with arguments built here (no shell).
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {result.stderr.strip()[-2000:]}")


# Migrations -------------------------------------------------------------------------------------------


def _applied(schema: str) -> list[list[str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT app, name FROM {}.django_migrations ORDER BY app, name").format(
                sql.Identifier(schema)
            )
        )
        return [[app, name] for app, name in cursor.fetchall()]


def _known_migrations() -> set[tuple[str, str]]:
    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


# Backup -----------------------------------------------------------------------------------------------


class _Encoder(DjangoJSONEncoder):
    """Django's encoder cuts datetimes to milliseconds; a restore must give back the exact value."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            return o.isoformat()
        return super().default(o)


def _serialize(rows: Any) -> list[dict[str, Any]]:
    return json.loads(serializers.serialize("json", rows, cls=_Encoder))


def _shared_rows(tenant: Tenant) -> dict[str, Any]:
    memberships = list(Membership.objects.filter(tenant=tenant).order_by("pk"))
    agency_staff = list(
        AgencyMembership.objects.filter(agency_id=tenant.agency_id).order_by("pk") if tenant.agency_id else []
    )
    tokens = list(ApiToken.objects.filter(tenants=tenant).order_by("pk"))
    events = list(AuditEvent.objects.filter(tenant=tenant).order_by("pk"))
    user_ids = {m.user_id for m in memberships} | {m.user_id for m in agency_staff}
    user_ids |= {t.user_id for t in tokens} | {t.created_by_id for t in tokens if t.created_by_id}
    user_ids |= {e.actor_id for e in events if e.actor_id}
    return {
        "tenant": _serialize([tenant]),
        "domains": _serialize(Domain.objects.filter(tenant=tenant).order_by("pk")),
        "agency": _serialize(Agency.objects.filter(pk=tenant.agency_id)),
        "agency_memberships": _serialize(agency_staff),
        "users": _serialize(User.objects.filter(pk__in=user_ids).order_by("pk")),
        "memberships": _serialize(memberships),
        "api_tokens": _serialize(tokens),
        "audit_events": _serialize(events),
    }


def _media_dir(schema: str) -> Path:
    return Path(settings.MEDIA_ROOT) / schema


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(datetime.now(UTC).timestamp())
    archive.addfile(info, io.BytesIO(data))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tenant_backup(*, slug: str, output: Path) -> BackupResult:
    """Write one tenant's archive to `output` (see the module)."""
    tenant = Tenant.objects.filter(slug=slug, is_client=True).first()
    if tenant is None:
        raise BackupError(f"no client tenant '{slug}'")
    server_major = _server_major()
    pg_dump, dump_major = pg_program("pg_dump", at_least=server_major)
    args, env = _connection_args()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="candor-backup-") as scratch:
        dump_path = Path(scratch) / SCHEMA_DUMP
        # One snapshot for both halves: pg_dump reads the schema as this transaction sees the
        # shared rows (the snapshot lives while the exporting transaction is open).
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot = cursor.fetchone()[0]
                cursor.execute(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
                    [tenant.schema_name],
                )
                tables = int(cursor.fetchone()[0])
            _run(
                [
                    pg_dump,
                    *args,
                    "--format=custom",
                    "--schema",
                    tenant.schema_name,
                    "--no-owner",
                    "--no-privileges",
                    "--snapshot",
                    snapshot,
                    "--file",
                    str(dump_path),
                ],
                env,
                "pg_dump",
            )
            shared = _shared_rows(tenant)
            tenant_migrations = _applied(tenant.schema_name)
            public_migrations = _applied(settings.PUBLIC_SCHEMA_NAME)
        shared_bytes = json.dumps(shared, indent=1).encode()
        media = _media_dir(tenant.schema_name)
        media_files = sorted(p for p in media.rglob("*") if p.is_file()) if media.is_dir() else []
        checksums = {SCHEMA_DUMP: _sha256_file(dump_path), SHARED: hashlib.sha256(shared_bytes).hexdigest()}
        for path in media_files:
            checksums[MEDIA_PREFIX + path.relative_to(media).as_posix()] = _sha256_file(path)
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "tenant": {"slug": tenant.slug, "name": tenant.name, "schema": tenant.schema_name},
            "postgresql": {"server_major": server_major, "pg_dump_major": dump_major},
            "migrations": {"tenant": tenant_migrations, "public": public_migrations},
            "files": checksums,
        }
        partial = output.with_name(output.name + ".partial")
        with tarfile.open(partial, "w") as archive:
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=1).encode())
            archive.add(dump_path, SCHEMA_DUMP)
            _add_bytes(archive, SHARED, shared_bytes)
            for path in media_files:
                archive.add(path, MEDIA_PREFIX + path.relative_to(media).as_posix())
        partial.replace(output)  # a crash mid-write never leaves a file that looks complete
    logger.info("tenant %s backed up to %s", slug, output)
    return BackupResult(
        path=output, tables=tables, users=len(shared["users"]), audit_events=len(shared["audit_events"])
    )


# Reading an archive -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Archive:
    manifest: dict[str, Any]
    folder: Path

    @property
    def schema(self) -> str:
        return str(self.manifest["tenant"]["schema"])

    @property
    def slug(self) -> str:
        return str(self.manifest["tenant"]["slug"])

    def shared(self) -> dict[str, Any]:
        return dict(json.loads((self.folder / SHARED).read_text()))


def _safe_member(name: str) -> bool:
    parts = Path(name).parts
    return bool(parts) and not Path(name).is_absolute() and ".." not in parts


@contextmanager
def archive_open(path: Path) -> Iterator[Archive]:
    """Unpack and check an archive: a tar with our manifest, a known format version, and every
    member present with its checksum. Anything else is refused with the reason."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        archive = tarfile.open(path, "r:")  # noqa: SIM115 - closed by the `with` below
    except (tarfile.TarError, OSError) as error:
        raise BackupError(f"{path} is not a Candor tenant backup (not a tar archive: {error})") from error
    with archive, tempfile.TemporaryDirectory(prefix="candor-restore-") as scratch:
        folder = Path(scratch)
        try:
            members = archive.getmembers()
            names = {m.name for m in members}
            if MANIFEST not in names:
                raise BackupError(f"{path} is not a Candor tenant backup (no {MANIFEST})")
            handle = archive.extractfile(MANIFEST)
            manifest = json.loads(handle.read()) if handle else None
        except (tarfile.TarError, OSError, ValueError) as error:
            raise BackupError(f"{path} is damaged: {error}") from error
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError(f"{path} is not a Candor tenant backup (unknown manifest format)")
        if manifest.get("version") != FORMAT_VERSION:
            raise BackupError(
                f"{path} has backup format version {manifest.get('version')!r};"
                f" this installation reads version {FORMAT_VERSION}"
            )
        files = manifest.get("files")
        if not isinstance(files, dict) or SCHEMA_DUMP not in files or SHARED not in files:
            raise BackupError(f"{path} is damaged: its manifest lists no schema dump or shared rows")
        for name, expected in files.items():
            member = next((m for m in members if m.name == name), None)
            if member is None or not member.isfile() or not _safe_member(name):
                raise BackupError(f"{path} is damaged: {name} is missing")
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                source = archive.extractfile(member)
                assert source is not None
                with target.open("wb") as out:
                    shutil.copyfileobj(source, out)
            except (tarfile.TarError, OSError) as error:
                raise BackupError(f"{path} is damaged: {name}: {error}") from error
            if _sha256_file(target) != expected:
                raise BackupError(f"{path} is damaged: {name} does not match its checksum")
        yield Archive(manifest=manifest, folder=folder)


# Restore ----------------------------------------------------------------------------------------------


def _objects(rows: list[dict[str, Any]]) -> list[Any]:
    return [d.object for d in serializers.deserialize("json", json.dumps(rows))]


def _check_target(archive: Archive, slug: str, schema: str, replace: bool) -> Tenant | None:
    try:
        slug_validator(slug)
    except ValidationError as error:
        raise BackupError(f"--as {slug}: {' '.join(error.messages)}") from error
    if slug in RESERVED_SLUGS:
        raise BackupError(f"--as {slug}: the slug is reserved")
    existing = Tenant.objects.filter(slug=slug).first()
    if existing is not None and not existing.is_client:
        raise BackupError(f"'{slug}' is not a client tenant and cannot be replaced")
    if (existing is not None or schema_exists(schema)) and not replace:
        raise BackupError(
            f"tenant '{slug}' (schema {schema}) already exists here; pass --replace to restore over it,"
            " or --as <new slug> to restore a copy beside it"
        )
    if existing is not None and existing.schema_name != schema:
        raise BackupError(f"tenant '{slug}' lives in schema {existing.schema_name}, not {schema}")
    if archive.schema != schema and schema_exists(archive.schema):
        raise BackupError(
            f"the archive's schema {archive.schema} exists in this database, and a schema is restored"
            " under its own name before it is renamed: restore the copy into another database"
        )
    known = _known_migrations()
    unknown = [
        f"{app}.{name}"
        for app, name in archive.manifest["migrations"]["tenant"] + archive.manifest["migrations"]["public"]
        if (app, name) not in known
    ]
    if unknown:
        raise BackupError(
            "the archive was made by a newer Candor (migrations unknown here: "
            f"{', '.join(sorted(unknown)[:5])}); upgrade this installation first"
        )
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
        if cursor.fetchone() is None:
            raise BackupError("this database has no pgvector extension: run migrate_schemas first")
    return existing


def _check_users(users: list[User]) -> None:
    """Users keep their ids (see the module): refuse if one cannot."""
    for user in users:
        by_id = User.objects.filter(pk=user.pk).first()
        by_email = User.objects.filter(email=user.email).first()
        if by_id is not None and by_id.email == user.email:
            continue
        if by_id is not None:
            holder = f"user {by_id.pk} is {by_id.email}"
        elif by_email is not None:
            holder = f"{user.email} is user {by_email.pk}"
        else:
            continue
        raise BackupError(
            f"user {user.pk} ({user.email}) of the archive cannot keep its id here ({holder});"
            " tenant data and the consent ledger name users by id"
        )


def _check_domains(domains: list[Domain], slug: str, renamed: bool, replaced: Tenant | None) -> list[str]:
    names = [tenant_domain(slug)] if renamed else [d.domain for d in domains] or [tenant_domain(slug)]
    taken = Domain.objects.filter(domain__in=names)
    if replaced is not None:
        taken = taken.exclude(tenant=replaced)
    if taken.exists():
        raise BackupError(f"domain {taken.first().domain} already routes to another tenant")
    return names


def _sequence_past(model: Any) -> None:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT setval(pg_get_serial_sequence(%s, 'id'), coalesce(max(id), 1)) FROM {}").format(
                sql.Identifier(table)
            ),
            [table],
        )


def tenant_restore(*, path: Path, slug: str | None = None, replace: bool = False) -> RestoreResult:
    """Restore an archive into this database, as its own slug or as `slug`. The database must be
    migrated (`migrate_schemas`); refused if the tenant exists, unless `replace`."""
    connection.set_schema_to_public()  # type: ignore[attr-defined]
    with archive_open(path) as archive:
        target_slug = slug or archive.slug
        schema = _schema_for_slug(target_slug)
        renamed = target_slug != archive.slug
        replaced = _check_target(archive, target_slug, schema, replace)
        shared = archive.shared()
        users = _objects(shared["users"])
        _check_users(users)
        domains = _check_domains(_objects(shared["domains"]), target_slug, renamed, replaced)
        pg_restore, _ = pg_program(
            "pg_restore", at_least=max(_server_major(), archive.manifest["postgresql"]["pg_dump_major"])
        )
        args, env = _connection_args()
        _run([pg_restore, "--list", str(archive.folder / SCHEMA_DUMP)], env, "reading the schema dump")
        kept_events: list[AuditEvent] = []
        if replaced is not None:
            # Audit events are append-only: the replaced tenant's stay, pointed at the restored one.
            kept_events = list(AuditEvent.objects.filter(tenant=replaced))
            with transaction.atomic():
                replaced.delete(force_drop=True)
            shutil.rmtree(_media_dir(schema), ignore_errors=True)
        _run(
            [
                pg_restore,
                *args,
                "--no-owner",
                "--no-privileges",
                "--single-transaction",
                "--exit-on-error",
                str(archive.folder / SCHEMA_DUMP),
            ],
            env,
            "pg_restore",
        )
        try:
            with transaction.atomic():
                if renamed:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            sql.SQL("ALTER SCHEMA {} RENAME TO {}").format(
                                sql.Identifier(archive.schema), sql.Identifier(schema)
                            )
                        )
                result = _shared_restore(shared, users, target_slug, schema, domains, renamed, kept_events)
        except Exception:
            with connection.cursor() as cursor:
                for name in {archive.schema, schema}:
                    cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
            raise
        media = archive.folder / MEDIA_PREFIX.rstrip("/")
        if media.is_dir():
            shutil.copytree(media, _media_dir(schema), dirs_exist_ok=True)
    # An archive from an older Candor is brought up to this one's migrations.
    missing = _known_tenant_migrations() - {tuple(m) for m in _applied(schema)}
    if missing:
        call_command("migrate_schemas", schema_name=schema, interactive=False, verbosity=0)
    logger.info("tenant %s restored from %s as %s", archive.slug, path, target_slug)
    return result


def _known_tenant_migrations() -> set[tuple[str, ...]]:
    tenant_apps = {app.split(".")[-1] for app in settings.TENANT_APPS}
    return {key for key in _known_migrations() if key[0] in tenant_apps}


def _shared_restore(
    shared: dict[str, Any],
    users: list[User],
    slug: str,
    schema: str,
    domains: list[str],
    renamed: bool,
    kept_events: list[AuditEvent],
) -> RestoreResult:
    created = reused = 0
    for user in users:
        if User.objects.filter(pk=user.pk).exists():
            reused += 1
            continue
        user.save(force_insert=True)
        created += 1
    _sequence_past(User)
    (old,) = _objects(shared["tenant"])
    agency_ids: dict[int, int] = {}
    agency = None
    for archived in _objects(shared["agency"]):
        agency, _ = Agency.objects.get_or_create(
            slug=archived.slug, defaults={"name": archived.name, "created_at": archived.created_at}
        )
        agency_ids[archived.pk] = agency.pk
    tenant = Tenant(
        schema_name=schema,
        name=old.name,
        slug=slug,
        agency=agency,
        is_client=True,
        created_at=old.created_at,
    )
    tenant.auto_create_schema = False  # the schema was restored, not cloned
    tenant.save(verbosity=0)
    for index, name in enumerate(domains):
        Domain.objects.create(domain=name, tenant=tenant, is_primary=index == 0)
    for membership in _objects(shared["memberships"]):
        Membership.objects.create(
            user_id=membership.user_id, tenant=tenant, role=membership.role, created_at=membership.created_at
        )
    for staff in _objects(shared["agency_memberships"]):
        AgencyMembership.objects.get_or_create(
            user_id=staff.user_id,
            agency_id=agency_ids[staff.agency_id],
            defaults={"role": staff.role, "created_at": staff.created_at},
        )
    tokens = 0
    for token in _objects(shared["api_tokens"]):
        existing = ApiToken.objects.filter(prefix=token.prefix).first()
        if existing is None:
            token.pk = None
            token.agency_id = agency_ids.get(token.agency_id) if token.agency_id else None
            token.save(force_insert=True)
            existing = token
        elif renamed or existing.digest != token.digest:
            continue  # a copy does not widen a live token's reach; another token owns the prefix
        existing.tenants.add(tenant)
        tokens += 1
    seen = {(e.created_at, e.action, e.target, e.actor_label) for e in kept_events}
    events = []
    for event in _objects(shared["audit_events"]):
        if (event.created_at, event.action, event.target, event.actor_label) in seen:
            continue
        event.pk = None
        event.tenant = tenant
        event.agency_id = agency_ids.get(event.agency_id) if event.agency_id else None
        events.append(event)
    AuditEvent.objects.bulk_create(events)
    AuditEvent.objects.filter(pk__in=[e.pk for e in kept_events]).update(tenant=tenant)
    return RestoreResult(
        tenant=tenant,
        users_created=created,
        users_reused=reused,
        tokens=tokens,
        audit_events=len(events) + len(kept_events),
    )
