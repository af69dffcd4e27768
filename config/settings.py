"""Candor settings: one module, read from the environment (django-environ).

`CANDOR_ENV=production` makes every secret and service explicit: a missing one is an
ImproperlyConfigured error, never a silent default. In development (the default) the project runs
on its embedded parts: PostgreSQL from pgserver, a filesystem Celery transport, a file cache and the
console email backend, all under `CANDOR_DATA_DIR`.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

CANDOR_ENV = env.str("CANDOR_ENV", default="development")
if CANDOR_ENV not in {"development", "production"}:
    raise ImproperlyConfigured("CANDOR_ENV must be 'development' or 'production'")
PRODUCTION = CANDOR_ENV == "production"
DATA_DIR = Path(env.str("CANDOR_DATA_DIR", default=str(BASE_DIR / ".data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _required(name: str) -> str:
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when CANDOR_ENV=production")
    return value


def _development_secret_key() -> str:
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


# Fernet keys for secrets at rest (tenants.crypto); empty derives one from SECRET_KEY.
CANDOR_ENCRYPTION_KEYS = env.list("CANDOR_ENCRYPTION_KEYS", default=[])
SECRET_KEY = (
    _required("SECRET_KEY") if PRODUCTION else env.str("SECRET_KEY", default="") or _development_secret_key()
)
DEBUG = env.bool("DJANGO_DEBUG", default=False)

# The public domain serves sign-in, the agency area and the tenant switcher; each client company is
# `<slug>.<CANDOR_BASE_DOMAIN>`. Only hosts under the base domain are served (forged Host headers
# answer 400); X-Forwarded-Host is never trusted.
CANDOR_BASE_DOMAIN = env.str("CANDOR_BASE_DOMAIN", default="localhost")
PORT = env.int("PORT", default=8000)
CANDOR_PUBLIC_URL = env.str("CANDOR_PUBLIC_URL", default=f"http://{CANDOR_BASE_DOMAIN}:{PORT}")
ALLOWED_HOSTS = [CANDOR_BASE_DOMAIN, f".{CANDOR_BASE_DOMAIN}"]
USE_X_FORWARDED_HOST = False
# Reverse proxies whose X-Forwarded-For is believed (client addresses for audit and lockouts).
CANDOR_TRUSTED_PROXIES = env.list("CANDOR_TRUSTED_PROXIES", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

SHARED_APPS = [
    "django_tenants",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
]
TENANT_APPS = [
    "listening",
    "crisis",
    "personalization",
    "ethics",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Tenant"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_NAME = "public"
# New tenants clone this migrated schema instead of running every migration (django-tenants#617).
TENANT_BASE_SCHEMA = "tenant_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# django-tenants#1262: returns another tenant's rows after a savepoint rollback when enabled.
TENANT_LIMIT_SET_CALLS = False
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False

MIDDLEWARE = [
    "tenants.middleware.TenantRoutingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls_tenant"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "tenants.context_processors.portal",
            ],
        },
    },
]

if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
elif PRODUCTION:
    raise ImproperlyConfigured("DATABASE_URL must be set when CANDOR_ENV=production")
else:
    from config import embedded

    DATABASES = {"default": environ.Env.db_url_config(embedded.database_url(DATA_DIR))}
DATABASES["default"]["ENGINE"] = "django_tenants.postgresql_backend"
# Bounded connection lifetimes keep a backend's catalog cache from growing with every schema it
# touches (DESIGN: ~21 MB per connection across 1,000 schemas); health checks recover after a restart.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=300)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default=f"filecache://{DATA_DIR / 'cache'}")}
# Every cache key carries the schema, so a key used in tenant A never reads tenant B's value.
CACHES["default"]["KEY_FUNCTION"] = "django_tenants.cache.make_key"
CACHES["default"]["REVERSE_KEY_FUNCTION"] = "django_tenants.cache.reverse_key"

AUTH_USER_MODEL = "tenants.User"
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "portal-login"
# Failed sign-ins per (email, client address) before the account is locked for the window.
CANDOR_LOGIN_MAX_FAILURES = env.int("CANDOR_LOGIN_MAX_FAILURES", default=5)
CANDOR_LOGIN_LOCKOUT = timedelta(minutes=env.int("CANDOR_LOGIN_LOCKOUT_MINUTES", default=15))
# Invalid API tokens per client address before the address is refused (429) for the same window.
CANDOR_TOKEN_MAX_FAILURES = env.int("CANDOR_TOKEN_MAX_FAILURES", default=20)
# A folder with DejaVuSans.ttf (and -Bold) for incident-report PDFs in any script; without it the
# PDFs use a built-in Latin-1 font.
CANDOR_PDF_FONT_DIR = env.str("CANDOR_PDF_FONT_DIR", default="/usr/share/fonts/truetype/dejavu")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
CSRF_COOKIE_HTTPONLY = True
CSRF_FAILURE_VIEW = "tenants.views.csrf_failure"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# Files land in MEDIA_ROOT/<schema>/. The root is MEDIA_ROOT, not a `location` option: given one,
# TenantFileSystemStorage uses it as is, with no schema in the path (every tenant in one folder).
MEDIA_ROOT = str(DATA_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django_tenants.files.storage.TenantFileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MULTITENANT_RELATIVE_MEDIA_ROOT = "%s"
# Tests and `runserver` serve static files straight from the finders, with no collectstatic.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=not PRODUCTION)
if WHITENOISE_USE_FINDERS:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Candor <no-reply@candor.localhost>")

# API ---------------------------------------------------------------------------------------------
API_PAGE_SIZE = 50
API_MAX_PAGE_SIZE = 200
API_TOKEN_RATE = env.str("API_TOKEN_RATE", default="600/min")
API_ANON_RATE = env.str("API_ANON_RATE", default="60/min")
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=20 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.authentication.ApiTokenAuthentication",
        "tenants.authentication.PortalSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "tenants.api.parsers.JSONParser",
        "tenants.api.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "tenants.api.pagination.Cursor",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "tenants.api.schema.AutoSchema",
    # OPTIONS answers 405: the OpenAPI schema documents every operation, and DRF's metadata
    # answer needed a serializer on every view (a 500 on those without one).
    "DEFAULT_METADATA_CLASS": None,
    "DEFAULT_THROTTLE_CLASSES": ["tenants.api.throttling.CallerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"caller": API_TOKEN_RATE, "anon": API_ANON_RATE},
    "EXCEPTION_HANDLER": "tenants.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Candor API",
    "DESCRIPTION": (
        "Every portal action of Candor. Tenant endpoints live on the tenant's own host "
        "(`https://<tenant>.<base domain>/api/v1/`); agency endpoints on the public host. "
        "Authenticate with `Authorization: Bearer <token>`. Every 4xx answer has the `Error` shape."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a field name ("kind", "action") get names of their own.
    "ENUM_NAME_OVERRIDES": {
        "SourceKindEnum": "listening.models.SourceKind",
        "QueryKindEnum": "listening.models.QueryKind",
        "InboxEventKindEnum": "listening.models.InboxEventKind",
        "StakeholderKindEnum": "personalization.models.StakeholderKind",
        "DsrKindEnum": "ethics.models.DsrKind",
        "ConsentActionEnum": "ethics.models.ConsentAction",
        "ConsentSourceEnum": "ethics.models.ConsentSource",
        "RecordableSourceEnum": "ethics.models.RECORDABLE_SOURCES",
        "TopicStatusEnum": "listening.models.TopicStatus",
        "ChannelKindEnum": "personalization.models.ChannelKind",
        "EngagementKindEnum": "personalization.models.EngagementKind",
        "SegmentKindEnum": "personalization.models.SegmentKind",
        "RecommendationKindEnum": "personalization.models.RecommendationKind",
        "CrisisModeScopeEnum": "crisis.aftermath_models.CrisisModeScope",
        "IncidentStatusEnum": "crisis.models.IncidentStatus",
        "IncidentRoleEnum": "crisis.playbooks.Role",
        "ApproverRoleEnum": "crisis.statement_services.APPROVER_ROLES",
        "MemberRoleEnum": "tenants.models.Role",
        "IncidentSourceEnum": "crisis.models.IncidentSource",
        "TaskStatusEnum": "crisis.models.TaskStatus",
        "StatementStatusEnum": "crisis.models.StatementStatus",
        "ClaimStatusEnum": "crisis.models.ClaimStatus",
        "LedgerCheckStatusEnum": "ethics.models.LedgerCheckStatus",
        "AlertKindEnum": "listening.models.AlertKind",
        "AlertStatusEnum": "listening.models.AlertStatus",
        "TokenScopeEnum": "tenants.models.TokenScope",
        "ConnectorKindEnum": "personalization.post_models.ConnectorKind",
        "PauseScopeEnum": "personalization.post_models.PauseScope",
        "PostStatusEnum": "personalization.post_models.PostStatus",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tenants.api.errors.add_error_responses",
    ],
}

# Listening ---------------------------------------------------------------------------------------
# Private networks connectors may fetch from (CIDRs): empty in production (SSRF, OWASP API7).
LISTENING_FETCH_ALLOWED_NETWORKS = env.list("LISTENING_FETCH_ALLOWED_NETWORKS", default=[])
LISTENING_FETCH_ALLOWED_PORTS = [
    int(p) for p in env.list("LISTENING_FETCH_ALLOWED_PORTS", default=[80, 443, 8080, 8443])
]
# A CA bundle for feeds behind an on-premise certificate authority (default: the system's).
LISTENING_FETCH_CA_BUNDLE = env.str("LISTENING_FETCH_CA_BUNDLE", default="") or None
LISTENING_FETCH_MAX_BYTES = env.int("LISTENING_FETCH_MAX_BYTES", default=10 * 1024 * 1024)
LISTENING_FETCH_TIMEOUT_S = env.float("LISTENING_FETCH_TIMEOUT_S", default=30.0)
LISTENING_BULK_MAX_ITEMS = 10_000
LISTENING_UPLOAD_MAX_BYTES = env.int("LISTENING_UPLOAD_MAX_BYTES", default=200 * 1024 * 1024)
LISTENING_ENRICH_BATCH = env.int("LISTENING_ENRICH_BATCH", default=128)
# Emerging topics cluster this window (compared with the one before it), sampled down to the cap.
LISTENING_TOPICS_WINDOW = timedelta(hours=env.int("LISTENING_TOPICS_WINDOW_HOURS", default=24))
LISTENING_TOPICS_SAMPLE_CAP = env.int("LISTENING_TOPICS_SAMPLE_CAP", default=20_000)
# The metrics API keeps its bucket reads this long under the tenant's metrics version, which every
# bucket change replaces (listening.selectors_metrics); 0 reads the buckets every time.
LISTENING_METRICS_CACHE_SECONDS = env.int("LISTENING_METRICS_CACHE_SECONDS", default=30)

# Ethics ------------------------------------------------------------------------------------------
# Preference-page requests per client address per minute (the page needs no account).
ETHICS_PREFERENCE_RATE_PER_MINUTE = env.int("ETHICS_PREFERENCE_RATE_PER_MINUTE", default=30)

# Personalization ---------------------------------------------------------------------------------
# Share of advice that tries an untried slot or variant (so advice does not only repeat history),
# and the deliveries a segment needs on a channel before the model's own estimate is trusted.
PERSONALIZATION_EXPLORATION_RATE = env.float("PERSONALIZATION_EXPLORATION_RATE", default=0.1)
PERSONALIZATION_MIN_EXPOSURES = env.int("PERSONALIZATION_MIN_EXPOSURES", default=1000)

# Celery ------------------------------------------------------------------------------------------
# The embedded default is a real worker process on a filesystem transport: no service to install.
CELERY_BROKER_URL = (
    _required("CELERY_BROKER_URL") if PRODUCTION else env.str("CELERY_BROKER_URL", default="filesystem://")
)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
else:
    # Above the longest task's hard limit, so a slow task is never handed to a second worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 50 * 60
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"

# Security ----------------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
