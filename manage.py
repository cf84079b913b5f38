#!/usr/bin/env python
"""Django's command-line utility for Tally. With no DATABASE_URL, any command starts (or
reuses) the embedded PostgreSQL under DATA_DIR first: see config/embedded_db.py."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
