"""python manage.py import_records DATASET FILE: the upload page's import, on the terminal."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from corpus.formats import FORMAT_CHOICES
from corpus.management.arguments import dataset_argument
from corpus.services.embed import embed_after_import
from corpus.services.ingest import READING, import_records, label_writer_for


class TerminalProgress:
    """The import's progress on the terminal: a bar of the file's bytes while it is read, then one
    of its rows while they are written into the dataset (most of a big import's time)."""

    def __init__(self, *, name: str, size: int, disable: bool, out) -> None:
        self._name, self._disable, self._out = name, disable, out
        self._reading = tqdm(total=size, unit="B", unit_scale=True, desc=name, disable=disable, file=out)
        self._writing: tqdm | None = None

    def __call__(self, *, phase: str, done: int, total: int | None) -> None:
        if phase == READING:
            self._reading.update(done - self._reading.n)
            return
        if self._writing is None:
            self._reading.close()
            self._writing = tqdm(
                total=total, unit=" rows", desc=f"{self._name}: writing", disable=self._disable, file=self._out
            )
        self._writing.update(done - self._writing.n)

    def __enter__(self) -> "TerminalProgress":
        return self

    def __exit__(self, *exc_info) -> None:
        self._reading.close()
        if self._writing is not None:
            self._writing.close()


class Command(BaseCommand):
    help = (
        "Import the rows of a CSV, TSV, JSONL, JSON or XLSX file (or another tool's export) into a "
        "dataset, all or nothing. Labels and predictions in the file are imported too."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("dataset", help="the dataset's name or id")
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=FORMAT_CHOICES, help="instead of detecting it from the file")
        parser.add_argument("--text-field", help="the column or key holding the text (default: text, content, ...)")
        parser.add_argument("--id-field", help="the column or key holding the row's own id (default: id)")
        parser.add_argument("--label-field", help="the column or key holding the label (default: label)")
        parser.add_argument("--label-names", help="comma-separated names of Hugging Face class indexes 0, 1, ...")
        parser.add_argument("--encoding", help="the file's text encoding when it is not UTF-8, e.g. cp1252")
        parser.add_argument("--schema", type=int, help="id of the label schema the file's labels belong to")
        parser.add_argument(
            "--reject-unknown-labels",
            action="store_true",
            help="report labels missing from the schema as errors instead of adding them",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument(
            "--no-embed",
            action="store_true",
            help="do not queue embedding of the new records (default: queued when EMBED_AFTER_IMPORT is on)",
        )

    def handle(self, *args, **options) -> None:
        dataset = dataset_argument(options["dataset"])
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        progress = TerminalProgress(
            name=path.name, size=path.stat().st_size, disable=options["no_progress"], out=self.stderr._out
        )
        label_names = tuple(name.strip() for name in (options["label_names"] or "").split(",") if name.strip())
        with path.open("rb") as source, progress:
            result = import_records(
                dataset=dataset,
                source=source,
                filename=path.name,
                fmt=options["format"],
                text_field=options["text_field"],
                id_field=options["id_field"],
                label_field=options["label_field"],
                label_names=label_names,
                encoding=options["encoding"],
                label_writer=label_writer_for(
                    schema_id=options["schema"], add_missing_labels=not options["reject_unknown_labels"]
                ),
                progress=progress,
            )
        if not result.ok:
            for error in result.errors:
                self.stderr.write(str(error))
            more = result.error_count - len(result.errors)
            if more:
                self.stderr.write(f"... and {more:,} more errors")
            raise CommandError(f"{path.name}: {result.error_count:,} errors; nothing was imported")
        summary = (
            f"{path.name}: {result.read:,} rows read, {result.inserted:,} inserted, "
            f"{result.duplicates:,} duplicates skipped ({result.container}, {result.shape})"
        )
        if result.annotations or result.predictions:
            summary += f"; {result.annotations:,} imported annotations, {result.predictions:,} predictions"
        if result.labels_added:
            summary += f"; labels added to the schema: {', '.join(result.labels_added)}"
        self.stdout.write(self.style.SUCCESS(summary))
        if not options["no_embed"]:
            embedding = embed_after_import(dataset=dataset, inserted=result.inserted, user=None)
            if embedding is not None:
                self.stdout.write(
                    f"Embedding the new records as job #{embedding.pk} (a running `manage.py worker` does it)."
                )
