"""Switchboard settings: one file, every difference comes from the environment."""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SWITCHBOARD_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # The embedded default keeps working out of the box; never use it in production.
    SECRET_KEY = "insecure-switchboard-development-key-change-me"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Secrets at rest are encrypted with this key; it is derived from SECRET_KEY when unset.
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")

INSTALLED_APPS = [
    "daphne",
    "config.apps.SwitchboardAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "core",
    "mcp_servers",
    "assistants",
    "chat",
    "files",
    "observability",
    "guardrails",
    "teams",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.SecurityHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's SQLite backend on a driver that loads sqlite-vec (core/backends/sqlite/base.py says why).
    DATABASES["default"]["ENGINE"] = "core.backends.sqlite"
    # Tests get Django's in-memory SQLite database, as with its own engine (tools that name test databases
    # after the engine only know Django's, and would name a file beside the real one otherwise).
    DATABASES["default"]["TEST"] = {"NAME": ":memory:"}
    # WAL and a busy timeout let the run executor write while pages read.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # Kept open by each thread: Channels and the ASGI handler close a connection after nearly every database
    # call, and opening one (with its PRAGMAs) costs more than most of the queries it would serve.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.int("DATABASE_POOL_SIZE", default=10):
    # A pool per process: Channels and the ASGI handler close the connection after nearly every
    # database call, and a new PostgreSQL connection per call (a forked backend) costs milliseconds.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_SIZE", default=10),
        "timeout": 20,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # a pooled connection goes back to the pool instead
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# A kept connection the database dropped (a restart, a failover) is replaced, not handed to the next request.
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError

    REDIS_CONNECTION = {
        "address": REDIS_URL,
        # Longer than the channel layer's 5 s blocking read, which redis-py's 5 s default would cut short.
        "socket_timeout": 15,
        "socket_connect_timeout": 5,
        # A connection Redis dropped (a restart, CLIENT KILL) is replaced instead of failing the caller.
        "retry": Retry(ExponentialBackoff(cap=2, base=0.1), 5),
        "retry_on_error": [RedisConnectionError, ConnectionError, OSError],
        "health_check_interval": 10,
        # redis-py raises MaxConnectionsError past its pool size (100 by default): a crowd of sockets joining
        # their groups, or many runs broadcasting at once, must queue on sockets, not fail.
        "max_connections": env.int("REDIS_MAX_CONNECTIONS", default=1000),
    }
    CHANNEL_LAYERS = {
        "default": {
            # channels_redis's core layer (with a cheaper group send) keeps group membership in Redis, so a send
            # right after group_add is never lost.
            "BACKEND": "core.layers.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_CONNECTION], "capacity": 2000, "expiry": 60, "prefix": "switchboard"},
        }
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "core.layers.LocalChannelLayer"}}
    # One process: sessions (SESSION_ENGINE) are read from here on every request and chat message.
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 20_000}}
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in throttling (django-axes): failed password logins are counted per account and per address, on the login
# page and the admin's; past the limit that account or address is locked for LOGIN_LOCKOUT_MINUTES (0: until an
# admin unlocks it, in the admin's Axes section or with `manage.py axes_reset_username`).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
if AXES_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured("LOGIN_FAILURE_LIMIT must be 1 or more.")
_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
if _LOCKOUT_MINUTES < 0:
    raise ImproperlyConfigured("LOGIN_LOCKOUT_MINUTES must be 0 (until an admin unlocks) or more.")
AXES_COOLOFF_TIME = timedelta(minutes=_LOCKOUT_MINUTES) if _LOCKOUT_MINUTES else None
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "core.throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "core.throttle.client_address"
# Not reset by a good login: axes would clear the whole address's count, so an attacker could log into an account of
# their own between guesses at another. Failures age out with the lockout time instead.
AXES_RESET_ON_SUCCESS = False
# Networks a remote MCP server or a provider's base URL may (allow list; empty: any) and may not (deny list) be in;
# checked when saved and when connecting. Link-local and cloud metadata addresses are denied by default.
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])
OUTBOUND_DENIED_NETWORKS = env.list(
    "OUTBOUND_DENIED_NETWORKS", default=["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"]
)
for _name, _networks in (("OUTBOUND_ALLOWED_NETWORKS", OUTBOUND_ALLOWED_NETWORKS),
                         ("OUTBOUND_DENIED_NETWORKS", OUTBOUND_DENIED_NETWORKS)):  # fmt: skip
    for _network in _networks:
        try:
            ipaddress.ip_network(_network, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{_name}: {_network!r} is not a network (like 10.0.0.0/8 or ::1).") from None
# OpenID Connect single sign-on beside local passwords (core/oidc.py), on when OIDC_ISSUER is set. Its endpoints come
# from the issuer's discovery document; users are created on first sign-in and their groups synced from a claim.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_USERNAME_CLAIM = env.str("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="single sign-on")
OIDC_TIMEOUT = env.float("OIDC_TIMEOUT", default=10.0)
if OIDC_ISSUER:
    if not OIDC_ISSUER.startswith(("https://", "http://")):
        raise ImproperlyConfigured("OIDC_ISSUER must be the provider's https:// URL.")
    OIDC_RP_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
    OIDC_RP_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
    if not OIDC_RP_CLIENT_ID or not OIDC_RP_CLIENT_SECRET:
        raise ImproperlyConfigured("OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be too.")
    OIDC_RP_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
    OIDC_RP_SIGN_ALGO = env.str("OIDC_SIGN_ALGO", default="RS256")
    OIDC_USE_PKCE = True
    OIDC_AUTHENTICATE_CLASS = "core.oidc.OIDCStartView"
    OIDC_CALLBACK_CLASS = "core.oidc.OIDCCallbackView"
    LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
    INSTALLED_APPS.append("mozilla_django_oidc")
    AUTHENTICATION_BACKENDS.append("core.oidc.OIDCBackend")
# Two-factor sign-in (TOTP) is optional for local accounts; on, staff need a verified session for the admin.
OTP_REQUIRED_FOR_STAFF = env.bool("OTP_REQUIRED_FOR_STAFF", default=False)
OTP_TOTP_ISSUER = "Switchboard"
# Proxies in front that append the client's address to X-Forwarded-For (0: use the connection's address).
PROXY_HOPS = env.int("PROXY_HOPS", default=0)

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "chat:conversation_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
# Uploaded files (/v1/files) go through the default storage: this directory unless STORAGES says otherwise.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
FILES_MAX_BYTES = env.int("FILES_MAX_BYTES", default=20 * 1024 * 1024)
if FILES_MAX_BYTES < 1:
    raise ImproperlyConfigured("FILES_MAX_BYTES must be a positive number of bytes.")
# Files being indexed at once in one process; the rest wait their turn.
FILES_INDEX_CONCURRENCY = env.int("FILES_INDEX_CONCURRENCY", default=2)
# Optional: an OpenAI-compatible /embeddings endpoint. With a model set, chunks are embedded as they are indexed
# and file search ranks by the full-text index and by meaning together (reciprocal rank fusion).
FILES_EMBEDDINGS_URL = env.str("FILES_EMBEDDINGS_URL", default="https://api.openai.com/v1")
FILES_EMBEDDINGS_MODEL = env.str("FILES_EMBEDDINGS_MODEL", default="")
FILES_EMBEDDINGS_API_KEY = env.str("FILES_EMBEDDINGS_API_KEY", default="")

# Sessions live in the database. On one process they are also read through its in-memory cache, which cannot
# fail or fall out of step: a request, and each chat message's re-check of its socket's login, costs no query,
# and every logout and "sign out everywhere" goes through the session store, which drops both. Scaled out they
# are read from the database alone: a logout during a Redis outage would leave the session readable in Redis
# once it came back.
SESSION_ENGINE = "django.contrib.sessions.backends." + ("db" if REDIS_URL else "cached_db")
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
# A refused form gets the site's own error page, with the reason, not Django's bare one.
CSRF_FAILURE_VIEW = "core.error_pages.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_HTTPS_PROXY", default=False) else None
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("BEHIND_HTTPS_PROXY", default=False)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        # Third-party clients may log request details; keep them quiet unless asked.
        "openai": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
        "mcp": {"level": "WARNING"},
        "openai.agents": {"level": "WARNING"},
    },
}

# Limits: bad input gets a clear error and changes nothing.
SWITCHBOARD = {
    "MESSAGE_MAX_CHARS": env.int("MESSAGE_MAX_CHARS", default=16_000),
    "WS_FRAME_MAX_BYTES": env.int("WS_FRAME_MAX_BYTES", default=32 * 1024),
    "RUN_MAX_TURNS": env.int("RUN_MAX_TURNS", default=10),
    "RUN_TIMEOUT_SECONDS": env.float("RUN_TIMEOUT_SECONDS", default=300.0),
    "RUN_HEARTBEAT_SECONDS": env.float("RUN_HEARTBEAT_SECONDS", default=5.0),
    "RUN_STALE_SECONDS": env.float("RUN_STALE_SECONDS", default=30.0),
    # A run waiting for tool outputs or approvals (requires_action) expires after this long, as OpenAI's did.
    "RUN_REQUIRES_ACTION_SECONDS": env.float("RUN_REQUIRES_ACTION_SECONDS", default=600.0),
    # An MCP server's question to the user (elicitation) waits this long for an answer, its tool call (and a run
    # slot) held open meanwhile; unanswered, the server hears `cancel` and the run goes on.
    "ELICITATION_TIMEOUT_SECONDS": env.float("ELICITATION_TIMEOUT_SECONDS", default=300.0),
    "MCP_IDLE_SECONDS": env.float("MCP_IDLE_SECONDS", default=600.0),
    # Stdio MCP servers run in a bubblewrap sandbox (mcp_servers/sandbox.py); 0 turns it off, for development only.
    "MCP_SANDBOX": env.bool("MCP_SANDBOX", default=True),
    "MCP_SANDBOX_DIR": env.str("MCP_SANDBOX_DIR", default=str(VAR_DIR / "sandbox")),
    "MCP_SANDBOX_READ_PATHS": env.list("MCP_SANDBOX_READ_PATHS", default=[]),
    "MCP_SANDBOX_MEMORY_MB": env.int("MCP_SANDBOX_MEMORY_MB", default=1024),
    "MCP_SANDBOX_PROCESSES": env.int("MCP_SANDBOX_PROCESSES", default=64),
    "MCP_SANDBOX_CPU_SECONDS": env.int("MCP_SANDBOX_CPU_SECONDS", default=3600),
    "RUN_MAX_TOOL_CALLS": env.int("RUN_MAX_TOOL_CALLS", default=25),
    # On SIGTERM, running runs get this long to finish before they are marked expired.
    "SHUTDOWN_GRACE_SECONDS": env.float("SHUTDOWN_GRACE_SECONDS", default=20.0),
    # Per-user fairness, counted in the cache (Redis when REDIS_URL is set).
    "RATE_MESSAGES_PER_MINUTE": env.int("RATE_MESSAGES_PER_MINUTE", default=30),
    "RATE_API_PER_MINUTE": env.int("RATE_API_PER_MINUTE", default=300),
    "RUNS_CONCURRENT_PER_USER": env.int("RUNS_CONCURRENT_PER_USER", default=4),
    # Unknown, revoked or expired API tokens one address may send in 15 minutes before it is refused (0: no limit).
    "TOKEN_FAILURE_LIMIT": env.int("TOKEN_FAILURE_LIMIT", default=20),
    # Open sockets one user may hold on one process: chat pages, and `/mcp/ws` sessions.
    "WS_SOCKETS_PER_USER": env.int("WS_SOCKETS_PER_USER", default=50),
    "MCP_SESSIONS_PER_USER": env.int("MCP_SESSIONS_PER_USER", default=10),
    # A tool's output is cut to this many characters in events and on the page; the whole text has a link.
    "TOOL_OUTPUT_SHOWN_CHARS": env.int("TOOL_OUTPUT_SHOWN_CHARS", default=16_000),
    # A tool result's images, audio and binary resources are kept up to this size each, and this much in all per
    # call; its structured content up to this much JSON. Over a limit, a part is replaced by a note saying so.
    "TOOL_RESULT_PART_MAX_BYTES": env.int("TOOL_RESULT_PART_MAX_BYTES", default=4 * 1024 * 1024),
    "TOOL_RESULT_MAX_BYTES": env.int("TOOL_RESULT_MAX_BYTES", default=8 * 1024 * 1024),
    "TOOL_RESULT_STRUCTURED_MAX_BYTES": env.int("TOOL_RESULT_STRUCTURED_MAX_BYTES", default=64 * 1024),
    # The audit log keeps tool arguments only when asked (they may hold personal data), and entries this long.
    "AUDIT_TOOL_ARGUMENTS": env.bool("AUDIT_TOOL_ARGUMENTS", default=False),
    "AUDIT_RETENTION_DAYS": env.int("AUDIT_RETENTION_DAYS", default=365),
    # `manage.py cleanup` deletes conversations idle this long, with their runs and steps (0: keep forever).
    "CONVERSATION_RETENTION_DAYS": env.int("CONVERSATION_RETENTION_DAYS", default=0),
    # Runs one process executes at once; more wait as `queued` (0: no limit).
    "RUNS_CONCURRENT_PER_PROCESS": env.int("RUNS_CONCURRENT_PER_PROCESS", default=64),
}
for _name in ("TOOL_RESULT_PART_MAX_BYTES", "TOOL_RESULT_MAX_BYTES", "TOOL_RESULT_STRUCTURED_MAX_BYTES"):
    if SWITCHBOARD[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be a positive number of bytes.")
if SWITCHBOARD["ELICITATION_TIMEOUT_SECONDS"] <= 0:
    raise ImproperlyConfigured("ELICITATION_TIMEOUT_SECONDS must be a positive number of seconds.")

# The offline model streams its reply a word at a time, this many milliseconds apart, so its answers read as a
# real model's do; 0 sends every word at once (the benchmark measures Switchboard, not this pause).
try:
    OFFLINE_STREAM_DELAY_MS = env.int("OFFLINE_STREAM_DELAY_MS", default=15)
except ValueError:
    raise ImproperlyConfigured("OFFLINE_STREAM_DELAY_MS must be a whole number of milliseconds.") from None
if not 0 <= OFFLINE_STREAM_DELAY_MS <= 1000:
    raise ImproperlyConfigured("OFFLINE_STREAM_DELAY_MS must be from 0 to 1000.")

# The agents SDK exports traces to the vendor unless told not to: off unless configured.
AGENTS_TRACING = env.bool("AGENTS_TRACING", default=False)
if not AGENTS_TRACING:
    os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")

# Observability. Runs are traced into the database (the trace page, the admin) unless TRACES is off;
# `manage.py cleanup` deletes traces older than this many days (0 keeps them).
TRACES = env.bool("TRACES", default=True)
try:
    TRACE_RETENTION_DAYS = env.int("TRACE_RETENTION_DAYS", default=30)
except ValueError:
    raise ImproperlyConfigured("TRACE_RETENTION_DAYS must be a whole number of days (0 keeps traces).") from None
if TRACE_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("TRACE_RETENTION_DAYS must be 0 (keep traces) or more.")
# The same spans also go to an OpenTelemetry collector (OTLP over HTTP) when this is set, e.g.
# http://127.0.0.1:4318; nothing is sent, and no connection is made, when it is empty.
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
if OTEL_EXPORTER_OTLP_ENDPOINT and not OTEL_EXPORTER_OTLP_ENDPOINT.startswith(("http://", "https://")):
    raise ImproperlyConfigured("OTEL_EXPORTER_OTLP_ENDPOINT must be an http:// or https:// URL.")
# Prometheus metrics at /metrics, for staff or for `Authorization: Bearer <METRICS_TOKEN>`. Each process writes
# its values to files in METRICS_DIR and /metrics adds them up: give the processes of one host one directory.
METRICS_DIR = Path(env.str("METRICS_DIR", default=str(VAR_DIR / "metrics")))
METRICS_DIR.mkdir(parents=True, exist_ok=True)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# prometheus_client picks its multiprocess mode when it is first imported, so before any app is loaded.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
