"""Django settings, read from the environment.

DATABASE_URL     default: a SQLite file under OCTET_DATA_DIR (./data); postgres://… for PostgreSQL
OCTET_DATA_DIR   where the embedded database and the generated secret key live
OCTET_TIME_ZONE  the operator's time zone (billing periods are computed in it)
OCTET_CURRENCY   ISO 4217 code of the operator's currency
OCTET_BILLING_WORKERS  processes per billing run (default: one per core, at most 4)
OCTET_SECRET_KEY Django's secret; generated once into the data folder when unset
OCTET_CREDENTIAL_KEY  key that encrypts RADIUS passwords at rest (derived from the secret if unset)
OCTET_EMAIL_*, OCTET_SMS_BACKEND, OCTET_TWILIO_*  e-mail and SMS delivery (docs/notifications.md)
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("OCTET_DATA_DIR", Path.cwd() / "data")).resolve()


def _secret_key() -> str:
    key = os.environ.get("OCTET_SECRET_KEY")
    if key:
        return key
    # Never committed: generated on first start and kept beside the embedded database.
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
CREDENTIAL_KEY = os.environ.get("OCTET_CREDENTIAL_KEY", "")
DEBUG = os.environ.get("OCTET_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("OCTET_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

OCTET_TIME_ZONE = os.environ.get("OCTET_TIME_ZONE", "Asia/Kolkata")
OCTET_CURRENCY = os.environ.get("OCTET_CURRENCY", "INR").upper()
# Processes a billing run rates and writes with (octet bill, octet worker); billing is
# CPU-bound Python, so one per core. octet serve runs its jobs in-process with one.
OCTET_BILLING_WORKERS = int(os.environ.get("OCTET_BILLING_WORKERS", min(os.cpu_count() or 1, 4)))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "django_tasks_db",
    "octet.core",
    "octet.customers",
    "octet.catalog",
    "octet.subscriptions",
    "octet.notifications",
    "octet.network",
    "octet.metering",
    "octet.billing",
    "octet.payments",
    "octet.gateways",
    "octet.dunning",
    "octet.vouchers",
    "octet.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "octet.urls"
WSGI_APPLICATION = "octet.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'octet.sqlite3'}",
        conn_max_age=int(os.environ.get("OCTET_DB_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the RADIUS server, workers and web read while one writes; FULL makes a
    # commit durable before accounting is acknowledged.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
        "PRAGMA busy_timeout=10000;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
if os.environ.get("OCTET_TEST_DATABASE_NAME"):  # parallel test runs on one server
    DATABASES["default"]["TEST"] = {"NAME": os.environ["OCTET_TEST_DATABASE_NAME"]}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-in"
TIME_ZONE = OCTET_TIME_ZONE  # display only: every datetime is stored in UTC
USE_I18N = True
USE_TZ = True

# Where customers reach this Octet (gateway return pages, links in messages).
OCTET_PUBLIC_URL = os.environ.get("OCTET_PUBLIC_URL", "").strip().rstrip("/")

# Scheduled jobs run as tasks queued in the database (octet.tasks).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
# Serve the admin's static files straight from the installed apps: no collectstatic step.
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # One handler, on the root logger: a library that calls logging.basicConfig() (waitress
    # does) then finds it configured and adds no second handler printing every line twice.
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {"octet": {"level": os.environ.get("OCTET_LOG_LEVEL", "INFO")}},
}

# RADIUS (docs/radius.md)
RADIUS_HOST = os.environ.get("OCTET_RADIUS_HOST", "0.0.0.0")  # noqa: S104 - a NAS must reach it
RADIUS_AUTH_PORT = int(os.environ.get("OCTET_RADIUS_AUTH_PORT", "1812"))
RADIUS_ACCT_PORT = int(os.environ.get("OCTET_RADIUS_ACCT_PORT", "1813"))
# PostgreSQL: answer Access-Requests from memory, kept current by NOTIFY (network/authcache.py).
RADIUS_AUTH_CACHE = os.environ.get("OCTET_RADIUS_AUTH_CACHE", "1") == "1"
RADIUS_INTERIM_INTERVAL = int(os.environ.get("OCTET_RADIUS_INTERIM_INTERVAL", "300"))
# A session with no accounting for this long is closed (lost Stop).
RADIUS_STALE_AFTER = int(os.environ.get("OCTET_RADIUS_STALE_AFTER", "900"))
# Days before a prepaid validity ends that the customer gets a prepaid_expiring notice.
OCTET_PREPAID_NOTICE_DAYS = int(os.environ.get("OCTET_PREPAID_NOTICE_DAYS", "3"))
RADIUS_COA_TIMEOUT = float(os.environ.get("OCTET_RADIUS_COA_TIMEOUT", "2"))
RADIUS_COA_RETRIES = int(os.environ.get("OCTET_RADIUS_COA_RETRIES", "3"))

# Customer notifications (docs/notifications.md). With OCTET_EMAIL_HOST: SMTP. Without it
# (the embedded default, and `octet simulate`), e-mails are written as files under
# OCTET_DATA_DIR/outbox and nothing leaves the machine (never to stdout: simulate prints JSON).
EMAIL_HOST = os.environ.get("OCTET_EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = int(os.environ.get("OCTET_EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("OCTET_EMAIL_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("OCTET_EMAIL_PASSWORD", "")
    # 465 is implicit TLS (SMTPS); any other port upgrades with STARTTLS unless told not to.
    EMAIL_USE_SSL = os.environ.get("OCTET_EMAIL_USE_SSL", "1" if EMAIL_PORT == 465 else "0") == "1"
    EMAIL_USE_TLS = not EMAIL_USE_SSL and os.environ.get("OCTET_EMAIL_USE_TLS", "1") == "1"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = DATA_DIR / "outbox"
EMAIL_TIMEOUT = int(os.environ.get("OCTET_EMAIL_TIMEOUT", "30"))
# The From address ("Kaveri Fibernet <billing@kaveri.net>" or an address, shown with the
# operator's name); unset: the operator's e-mail address.
OCTET_EMAIL_FROM = os.environ.get("OCTET_EMAIL_FROM", "")
DEFAULT_FROM_EMAIL = OCTET_EMAIL_FROM or "octet@localhost"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
OCTET_TWILIO_ACCOUNT_SID = os.environ.get("OCTET_TWILIO_ACCOUNT_SID", "")
OCTET_TWILIO_AUTH_TOKEN = os.environ.get("OCTET_TWILIO_AUTH_TOKEN", "")
OCTET_TWILIO_FROM = os.environ.get("OCTET_TWILIO_FROM", "")  # a number, or an MG… service SID
OCTET_TWILIO_API_BASE = os.environ.get("OCTET_TWILIO_API_BASE", "https://api.twilio.com")
# Dotted path of the SMS gateway class; Twilio when its account is set, else none (each SMS
# delivery is then skipped, with the reason in the delivery log).
OCTET_SMS_BACKEND = os.environ.get("OCTET_SMS_BACKEND") or (
    "octet.notifications.sms.TwilioSms"
    if OCTET_TWILIO_ACCOUNT_SID
    else "octet.notifications.sms.DisabledSms"
)
