"""Settings for the reader-study platform.

Every difference between deployments is an environment variable with a working local default:
SQLite and a serverless Celery broker (kombu's filesystem transport) under ``VAR_DIR``.
``DATABASE_URL`` switches to PostgreSQL, ``CELERY_BROKER_URL`` to Redis or RabbitMQ.
See ``.env.example`` for the full list.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"environment variable {name}={raw!r} is not a boolean (use 1/0, true/false)")


def env_list(name: str, default: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


# Off unless asked for: with DEBUG on, every visitor (readers included) would get Django's debug
# pages, which print the URL map and settings. Developers set DEBUG=1 themselves.
DEBUG = env_bool("DEBUG", False)

# Runtime state (SQLite file, broker folders, media) lives here unless overridden.
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var")).resolve()


def _persisted_secret_key(path: Path) -> str:
    """A random key made once for this installation and kept (mode 0600) under VAR_DIR.

    One machine needs nothing more; several web machines behind one address must share one
    SECRET_KEY through the environment (sessions and signed URLs are made on one, read on another).
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


SECRET_KEY = os.environ.get("SECRET_KEY", "").strip() or _persisted_secret_key(VAR_DIR / "secret_key")
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    raise RuntimeError("SECRET_KEY must be at least 50 random characters (or unset: one is made under VAR_DIR)")

# Served over TLS (directly or behind a TLS-terminating proxy)? Then: redirect http to https,
# secure cookies, HSTS. Off by default (the demo and the tests speak plain http on 127.0.0.1);
# `./run serve`, the production command, turns it on unless HTTPS=0 is set.
HTTPS = env_bool("HTTPS", False)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "csp",
    "readerstudy.studies",
    "readerstudy.imports",
    "readerstudy.reading",
    "readerstudy.analysis",
    "readerstudy.reports",
    "readerstudy.ops",
    "readerstudy.jobs",
    "recon",
    "readerstudy.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "readerstudy.studies.permissions.WorkspaceAccessMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "readerstudy.studies.audit.AuditActorMiddleware",
    "readerstudy.reading.serving.CurrentRequestMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # First: refuses any login (form, admin, API token) for a username + address locked out.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "readerstudy.urls"
WSGI_APPLICATION = "readerstudy.wsgi.application"

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
                "readerstudy.studies.context_processors.roles",
            ],
        },
    },
]

# --- database -----------------------------------------------------------------------------------
_default_db = f"sqlite:///{VAR_DIR / 'readerstudy.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", _default_db),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
    )
}
# A Celery worker process (prefork children are forked from it) keeps plain persistent
# connections: a connection pool's threads do not survive fork().
_IN_CELERY = "celery" in Path(sys.argv[0]).parts[-2:] or Path(sys.argv[0]).name == "celery"
DB_POOL = env_bool("DB_POOL", not _IN_CELERY)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the worker read while the other writes; writers queue on a
    # gate that wakes the next one as soon as the previous commits (readerstudy/ops/sqlite3), and
    # wait at most `timeout` seconds for it before failing.
    DATABASES["default"]["ENGINE"] = "readerstudy.ops.sqlite3"
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Persistent like PostgreSQL's (DB_CONN_MAX_AGE): the app server's threads are a fixed set,
    # and opening SQLite (with its PRAGMAs) on every request was a large part of an image GET.
    # One test database file per test process, so parallel runs never share one; a worker
    # process started by a test is pointed at it through DATABASE_URL.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-readerstudy-{os.getpid()}.sqlite3")}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_POOL:
    # A bounded pool per web process (psycopg_pool through Django): at most DB_POOL_MAX_SIZE
    # connections each, so the server's total is WEB_WORKERS x DB_POOL_MAX_SIZE plus one per
    # Celery process (see README "Configuration"), whatever the number of readers. A request
    # that waits longer than DB_POOL_TIMEOUT seconds for a connection is answered 503 with
    # Retry-After (readerstudy/errors.py), never 500.
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps the connections
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": int(os.environ.get("DB_POOL_MIN_SIZE", "1")),
        "max_size": int(os.environ.get("DB_POOL_MAX_SIZE", os.environ.get("WEB_THREADS", "4"))),
        "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "10")),
        "max_idle": 300,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- login throttling (django-axes): AXES_FAILURE_LIMIT wrong passwords for one username from one
# address lock that pair out for AXES_COOLOFF_MINUTES (form, admin and API token alike; HTTP 429).
# Locking by username + address keeps a stranger from locking a reader out from elsewhere.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_MINUTES", "15")) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Behind the front server the client's address is the last X-Forwarded-For entry (readerstudy/ops/client_ip.py).
AXES_CLIENT_IP_CALLABLE = "readerstudy.ops.client_ip.client_ip"
# The front servers whose X-Forwarded-For is believed (readerstudy/ops/client_ip.py).
FORWARDED_ALLOW_IPS = env_list("FORWARDED_ALLOW_IPS", "127.0.0.1")

# --- mail: password reset is offered only when a mail server is configured ----------------------
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "reader-study@localhost")
PASSWORD_RESET_ENABLED = bool(EMAIL_HOST)

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- static and media ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
# One storage whatever DEBUG says, so collectstatic always writes the manifest and compressed
# copies that WhiteNoise serves with far-future caching; a page rendered before collectstatic (a
# test, a fresh checkout) falls back to the plain name instead of failing (readerstudy/staticstorage.py).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "readerstudy.staticstorage.StaticStorage"},
}
# Files not collected yet are still found (from STATICFILES_DIRS and the apps), DEBUG or not.
WHITENOISE_USE_FINDERS = True
# Instances are never served from MEDIA_URL: only through the permission-checked endpoint.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media")).resolve()
MEDIA_URL = "/media-not-served/"

# How the blinded-instance endpoint hands files to the front server:
# "" streams from Django; "x-accel-redirect" (nginx) or "x-sendfile" (Apache/lighttpd).
DICOM_SENDFILE_MODE = os.environ.get("DICOM_SENDFILE_MODE", "").strip().lower()
if DICOM_SENDFILE_MODE not in {"", "x-accel-redirect", "x-sendfile"}:
    raise ValueError(f"DICOM_SENDFILE_MODE={DICOM_SENDFILE_MODE!r}: use '', 'x-accel-redirect' or 'x-sendfile'")
# The internal location nginx maps onto MEDIA_ROOT (only for x-accel-redirect).
DICOM_SENDFILE_PREFIX = os.environ.get("DICOM_SENDFILE_PREFIX", "/protected-media/")
# How long an instance URL handed to a reader stays valid (plus up to an hour: the expiry is rounded
# so that URLs, and the browser's cache, stay the same for an hour). Withdrawal, logout, the end of
# the session or of the study end access at once regardless (readerstudy/reading/serving.py).
WADO_TOKEN_TTL_SECONDS = int(os.environ.get("WADO_TOKEN_TTL_SECONDS", str(4 * 3600)))

# --- import limits ------------------------------------------------------------------------------
IMPORT_MAX_ARCHIVE_BYTES = int(os.environ.get("IMPORT_MAX_ARCHIVE_BYTES", str(2 * 1024**3)))
IMPORT_MAX_EXPANDED_BYTES = int(os.environ.get("IMPORT_MAX_EXPANDED_BYTES", str(8 * 1024**3)))
IMPORT_MAX_MEMBERS = int(os.environ.get("IMPORT_MAX_MEMBERS", "100000"))
IMPORT_MAX_COMPRESSION_RATIO = float(os.environ.get("IMPORT_MAX_COMPRESSION_RATIO", "200"))
# Server folders a coordinator may import from (the API refuses any other path).
IMPORT_FOLDER_ROOTS = env_list("IMPORT_FOLDER_ROOTS", str(VAR_DIR / "incoming"))
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_TEMP_DIR = None

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "readerstudy.studies.apis.exception_handler",
    # The token endpoint (api_urls) is throttled per client address on top of the axes lockout.
    "DEFAULT_THROTTLE_RATES": {"auth-token": os.environ.get("TOKEN_THROTTLE_RATE", "10/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Reader study API",
    "DESCRIPTION": "Configure blinded reader studies of accelerated MRI; read; export answers.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files: no CDN, works on closed hospital networks.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The schema and its docs are for signed-in users only.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# --- Content-Security-Policy (django-csp) -----------------------------------------------------------
# Everything from this server; no inline scripts. The viewer bundle compiles its image codecs
# from WebAssembly ('wasm-unsafe-eval', not 'unsafe-eval'), may load them from data: URLs, and
# draws into canvases (images from data:/blob:). Inline styles remain allowed: the rendered report
# and the viewer set them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", "'wasm-unsafe-eval'"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'", "data:", "blob:"],
        "img-src": ["'self'", "data:", "blob:"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Celery -------------------------------------------------------------------------------------
# Default: kombu's filesystem transport, which needs no server; the worker and the web process
# exchange messages through folders under VAR_DIR.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
_broker_dir = Path(os.environ.get("CELERY_BROKER_DIR", VAR_DIR / "broker"))
# --- jobs (readerstudy/jobs) ---
# A running job beats every JOB_HEARTBEAT_SECONDS; one silent for JOB_STALE_SECONDS (or whose
# process on this host is gone) has lost its worker and is queued again by the sweep that every
# worker runs when it starts and every JOB_SWEEP_SECONDS; after JOB_MAX_ATTEMPTS it fails.
JOB_HEARTBEAT_SECONDS = float(os.environ.get("JOB_HEARTBEAT_SECONDS", "15"))
JOB_STALE_SECONDS = float(os.environ.get("JOB_STALE_SECONDS", "120"))
JOB_SWEEP_SECONDS = float(os.environ.get("JOB_SWEEP_SECONDS", "60"))
JOB_MAX_ATTEMPTS = int(os.environ.get("JOB_MAX_ATTEMPTS", "3"))
# The longest a job may run (the hard time limit of every task); the broker's visibility timeout
# (Redis) is sized above it, so a running job's message is never handed to a second worker.
JOB_TIME_LIMIT_SECONDS = int(os.environ.get("JOB_TIME_LIMIT_SECONDS", str(6 * 3600)))
CELERY_TASK_TIME_LIMIT = JOB_TIME_LIMIT_SECONDS
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),  # broadcast exchanges (kombu's default: ./control)
        "store_processed": False,
        # The folder is polled; once a second is all a job start needs (idle cost: a directory listing).
        "polling_interval": float(os.environ.get("CELERY_POLLING_INTERVAL", "1.0")),
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", str(JOB_TIME_LIMIT_SECONDS + 600)))}
)
# Job state lives in our own models (ImportJob, ReconJob); task results are not needed.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "readerstudy")
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE

# --- security (production) ----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if HTTPS:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
