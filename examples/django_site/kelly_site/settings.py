"""Settings of the example site: no database, one app (`studio`), the Kelly API configured from the environment."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = ["studio"]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "kelly_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.csrf"]},
    }
]
WSGI_APPLICATION = "kelly_site.wsgi.application"
ASGI_APPLICATION = "kelly_site.asgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# The Kelly API. Without a key the site answers from the SDK's built-in sandbox, so that
# `python manage.py runserver` works on a fresh machine; set KELLY_API_KEY for the real API.
KELLY_API_KEY = os.environ.get("KELLY_API_KEY", "")
KELLY_API_URL = os.environ.get("KELLY_API_URL", "")
# Below the web server's own limit (gunicorn kills a worker after 30 s by default), so a slow call
# ends in the site's own error page rather than a killed worker.
KELLY_TIMEOUT = float(os.environ.get("KELLY_TIMEOUT", "20"))
KELLY_MAX_RETRIES = 2
KELLY_IMAGE_SIZE = 512

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"studio": {"handlers": ["console"], "level": "INFO"}},
}
