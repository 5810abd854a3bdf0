#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reviewq.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A missing setting is the user's to fix: say which in one line, not a traceback.
        hint = " (in the environment or .env; see .env.example, or set DEBUG=1 for local use)"
        sys.exit(f"reviewq: {exc}{hint if 'SECRET_KEY' in str(exc) else ''}")


if __name__ == "__main__":
    main()
