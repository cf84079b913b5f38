"""Uploads kept between preview and import, and the cleanup of those never imported."""

import os
import time
from io import StringIO

from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from corpus.services.uploads import discard_stale_uploads, find_upload, store_upload
from tests.factories import UserFactory


def age(upload, hours: float) -> None:
    then = time.time() - hours * 3600
    for path in (upload.path, upload.path.with_name(f"{upload.token}.json")):
        os.utime(path, (then, then))


def test_an_upload_left_at_the_preview_is_removed_after_the_keep_time(db, settings):
    settings.IMPORT_UPLOAD_KEEP_HOURS = 48
    person = UserFactory()
    old = store_upload(file=SimpleUploadedFile("old.csv", b"text\nhello\n"), user=person, dataset_id=1)
    fresh = store_upload(file=SimpleUploadedFile("new.csv", b"text\nhi\n"), user=person, dataset_id=1)
    age(old, hours=49)
    age(fresh, hours=47)

    removed = discard_stale_uploads(older_than_hours=48)

    assert removed == 2  # the file and its description
    assert find_upload(token=old.token, user_id=person.pk, dataset_id=1) is None
    assert find_upload(token=fresh.token, user_id=person.pk, dataset_id=1) == fresh


def test_the_next_upload_sweeps_stale_ones_of_anyone(db, settings):
    settings.IMPORT_UPLOAD_KEEP_HOURS = 1
    someone, other = UserFactory(), UserFactory()
    stale = store_upload(file=SimpleUploadedFile("a.csv", b"text\na\n"), user=someone, dataset_id=1)
    age(stale, hours=2)

    store_upload(file=SimpleUploadedFile("b.csv", b"text\nb\n"), user=other, dataset_id=2)

    assert not stale.path.exists()


def test_clean_uploads_command_reports_what_it_removed(db):
    person = UserFactory()
    upload = store_upload(file=SimpleUploadedFile("a.csv", b"text\na\n"), user=person, dataset_id=1)
    age(upload, hours=5)
    out = StringIO()

    call_command("clean_uploads", "--hours", "4", stdout=out)

    assert "2 stale upload files removed (older than 4 h)." in out.getvalue()
    assert not upload.path.exists()
