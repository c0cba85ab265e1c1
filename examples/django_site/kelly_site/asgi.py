"""ASGI entry point (`uvicorn kelly_site.asgi:application`): async views share the server's event loop."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kelly_site.settings")
application = get_asgi_application()
