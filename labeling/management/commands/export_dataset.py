"""python manage.py export_dataset DATASET --format jsonl [--split 80/10/10] [--out FILE]: the admin's
export on the terminal, streamed to a file (or standard output) with a progress bar."""

import sys
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from corpus.formats.writers import FORMATS
from corpus.management.arguments import dataset_argument
from corpus.models import Dataset
from labeling.models import LabelSchema, RecordState
from labeling.services.export import ALL, FINAL, ExportError, ExportOptions, parse_split, prepare_export


def _comma_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class Command(BaseCommand):
    help = (
        "Export a dataset's records with their labels (CSV, JSONL, XLSX, Hugging Face, doccano, Label Studio, "
        "Argilla, Prodigy), optionally split into train/validation/test with duplicates kept together."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("dataset", help="the dataset's name or id")
        parser.add_argument("--format", choices=list(FORMATS), default="jsonl")
        parser.add_argument(
            "--out", type=Path, help="the file to write (default: a name in the current folder; - for stdout)"
        )
        parser.add_argument("--schema", help="the label set's name or id (default: the dataset's first)")
        parser.add_argument("--annotations", choices=[FINAL, ALL], default=FINAL)
        parser.add_argument("--predictions", action="store_true", help="include predictions with their scores")
        parser.add_argument("--no-meta", action="store_true", help="leave the records' meta out")
        parser.add_argument("--provenance", action="store_true", help="include record id, document, page, chunk")
        parser.add_argument("--status", help=f"comma-separated statuses: {', '.join(RecordState.Status.values)}")
        parser.add_argument("--min-agreement", type=float, help="share of agreeing annotator pairs, 0 to 1")
        parser.add_argument("--labels", help="comma-separated label names: only records with one of them")
        parser.add_argument(
            "--from", dest="date_from", type=date.fromisoformat, help="annotated on or after (YYYY-MM-DD)"
        )
        parser.add_argument(
            "--until", dest="date_to", type=date.fromisoformat, help="annotated on or before (YYYY-MM-DD)"
        )
        parser.add_argument("--annotators", help="comma-separated usernames: only records they annotated")
        parser.add_argument("--split", help="train/validation/test weights, e.g. 80/10/10 (80/20: train and test)")
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--near-duplicates", type=float, help="cosine threshold, e.g. 0.95 (needs embeddings)")
        parser.add_argument("--no-escape", action="store_true", help="CSV/XLSX: leave formula-like cells as they are")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options) -> None:
        dataset = dataset_argument(options["dataset"])
        schema = self._schema(dataset, options["schema"])
        try:
            export_options = ExportOptions(
                fmt=options["format"],
                schema_id=schema.pk if schema else None,
                annotations=options["annotations"],
                predictions=options["predictions"],
                meta=not options["no_meta"],
                provenance=options["provenance"],
                statuses=_comma_list(options["status"]),
                min_agreement=options["min_agreement"],
                label_ids=self._label_ids(schema, _comma_list(options["labels"])),
                date_from=options["date_from"],
                date_to=options["date_to"],
                annotator_ids=self._annotator_ids(_comma_list(options["annotators"])),
                split=parse_split(options["split"]),
                seed=options["seed"],
                near_duplicate_threshold=options["near_duplicates"],
                escape_formulas=not options["no_escape"],
            )
            prepared = prepare_export(dataset=dataset, options=export_options)
        except ExportError as error:
            raise CommandError(error.message) from None
        to_stdout = options["out"] is not None and str(options["out"]) == "-"
        path = None if to_stdout else (options["out"] or Path(prepared.filename))
        bar = tqdm(
            unit=" records",
            desc=dataset.name,
            disable=options["no_progress"],
            file=self.stderr._out,
        )

        def progress(*, done: int, total: int | None = None) -> None:
            if total is not None and bar.total != total:
                bar.total = total
                bar.refresh()
            bar.update(done - bar.n)

        out = sys.stdout.buffer if to_stdout else path.open("wb")
        try:
            with bar:
                for chunk in prepared.chunks(progress=progress):
                    out.write(chunk)
        except BaseException:
            if not to_stdout:
                out.close()
                path.unlink(missing_ok=True)
            raise
        if not to_stdout:
            out.close()
        report = prepared.report
        # The report goes to stdout, unless the file itself does.
        console = self.stderr if to_stdout else self.stdout
        where = "standard output" if to_stdout else str(path)
        console.write(self.style.SUCCESS(f"{where}: {report.summary()} in {report.seconds:.1f} s"))
        if report.near_duplicates:
            console.write(f"near-duplicates: {report.near_duplicates}")

    def _schema(self, dataset: Dataset, name_or_id: str | None) -> LabelSchema | None:
        schemas = LabelSchema.objects.filter(dataset=dataset)
        if not name_or_id:
            return schemas.order_by("pk").first()
        found = schemas.filter(name=name_or_id).first()
        if found is None and name_or_id.isdigit():
            found = schemas.filter(pk=int(name_or_id)).first()
        if found is None:
            names = ", ".join(schemas.values_list("name", flat=True)) or "none"
            raise CommandError(f"“{dataset.name}” has no label set “{name_or_id}” (it has: {names})")
        return found

    def _label_ids(self, schema: LabelSchema | None, names: list[str]) -> list[int]:
        if not names:
            return []
        if schema is None:
            raise CommandError("the dataset has no label set to filter by")
        found = dict(schema.labels.filter(name__in=names).values_list("name", "pk"))
        missing = [name for name in names if name not in found]
        if missing:
            raise CommandError(f"no label {', '.join(missing)} in “{schema.name}”")
        return list(found.values())

    def _annotator_ids(self, usernames: list[str]) -> list[int]:
        if not usernames:
            return []
        from django.contrib.auth import get_user_model

        found = dict(get_user_model().objects.filter(username__in=usernames).values_list("username", "pk"))
        missing = [name for name in usernames if name not in found]
        if missing:
            raise CommandError(f"no user {', '.join(missing)}")
        return list(found.values())
