"""WSGI entry point (gunicorn reviewq.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings")

application = get_wsgi_application()
