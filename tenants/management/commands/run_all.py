"""`make run`: migrate, seed the demo, then run the web server, a Celery worker and beat until
Ctrl-C, which stops everything this command started (the embedded PostgreSQL included)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from argparse import ArgumentParser

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from config.embedded import url_for as embedded_url

QUEUES = "default,ingest,nlp,ml,publish"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


class Command(BaseCommand):
    help = "Start Candor: web server, Celery worker and beat, on migrated and seeded data."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--no-demo", action="store_true", help="do not seed the demo tenants")
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args: object, **options: object) -> None:
        self.stdout.write("migrating the public schema and every tenant ...")
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
        call_command("platform_setup", verbosity=0)
        call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)
        if not options["no_demo"]:
            call_command("seed_demo")
        binds = [f"127.0.0.1:{settings.PORT}"] + ([f"[::1]:{settings.PORT}"] if _ipv6_loopback() else [])
        bin_dir = os.path.dirname(sys.executable)
        commands = {
            "web": [
                os.path.join(bin_dir, "gunicorn"),
                "config.wsgi",
                "--workers",
                str(options["web_workers"]),
                "--threads",
                "4",
                "--access-logfile",
                "-",
                # gunicorn 27 opens ~/.gunicorn/gunicorn.ctl by default: two servers would share it.
                "--no-control-socket",
                *[arg for b in binds for arg in ("--bind", b)],
            ],
            "worker": [
                os.path.join(bin_dir, "celery"),
                "-A",
                "config",
                "worker",
                "-Q",
                QUEUES,
                "--concurrency",
                "2",
                "--loglevel",
                "INFO",
            ],
            "beat": [
                os.path.join(bin_dir, "celery"),
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "-s",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        }
        env = {**os.environ, "DATABASE_URL": _database_url()}
        children = {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}  # noqa: S603
        url = settings.CANDOR_PUBLIC_URL
        self.stdout.write(
            self.style.SUCCESS(
                f"\nCandor is running.\n  Sign in:  {url}/login/\n  API docs: {url}/api/docs/\n"
                "  Demo:     owner@northwind.example / candor-demo-2026 (also admin@, analyst@, approver@,"
                " viewer@, agency@)\n  Stop:     Ctrl-C\n"
            )
        )
        stopping = False

        def stop(*_: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping:
                for name, child in children.items():
                    if child.poll() is not None:
                        self.stderr.write(f"{name} exited with {child.returncode}; stopping")
                        stopping = True
                time.sleep(0.5)
        finally:
            for child in children.values():
                if child.poll() is None:
                    child.terminate()
            for child in children.values():
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()
            if not os.environ.get("DATABASE_URL"):
                from config import embedded

                embedded.stop(settings.DATA_DIR)
            self.stdout.write("stopped")


def _database_url() -> str:
    """Children use the same database; with the embedded server, the URL this process resolved."""
    return os.environ.get("DATABASE_URL") or embedded_url(settings.DATABASES["default"])
