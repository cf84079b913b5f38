"""python manage.py clean_uploads: remove uploads left at the preview step (for cron)."""

from django.conf import settings
from django.core.management.base import BaseCommand

from corpus.services.uploads import discard_stale_uploads


class Command(BaseCommand):
    help = "Remove uploaded files that were never imported, older than IMPORT_UPLOAD_KEEP_HOURS."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--hours", type=float, default=None, help="age in hours (default: IMPORT_UPLOAD_KEEP_HOURS)"
        )

    def handle(self, *args, **options) -> None:
        hours = options["hours"] if options["hours"] is not None else settings.IMPORT_UPLOAD_KEEP_HOURS
        removed = discard_stale_uploads(older_than_hours=hours)
        self.stdout.write(f"{removed:,} stale upload files removed (older than {hours:g} h).")
