"""WSGI entry point (`gunicorn kelly_site.wsgi`): async views run in a fresh event loop per request."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kelly_site.settings")
application = get_wsgi_application()
