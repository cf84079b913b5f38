import json

from django.core.management.base import BaseCommand, CommandError

from corpus.management.arguments import dataset_argument
from corpus.models import Dataset
from labeling.models import LabelSchema
from labeling.services.agreement import AgreementReport, agreement_report


class Command(BaseCommand):
    help = (
        "How far annotators agree on a dataset's label schemas: percent agreement, Fleiss' kappa and "
        "Krippendorff's alpha overall and per label, Cohen's kappa per pair, and per annotator the "
        "agreement with the final and gold labels and their pace."
    )

    def add_arguments(self, parser):
        parser.add_argument("dataset", metavar="DATASET", help="The dataset's name or id.")
        parser.add_argument("--schema", metavar="NAME_OR_ID", help="Only this label schema (default: all of them).")
        parser.add_argument("--json", dest="as_json", action="store_true", help="Print JSON instead of tables.")

    def handle(self, *args, dataset, schema, as_json, **options):
        found = dataset_argument(dataset)
        reports = [agreement_report(schema=chosen) for chosen in self._schemas(found, schema)]
        if as_json:
            self._print_json(found, reports)
        else:
            for report in reports:
                self._print_tables(report)

    def _schemas(self, dataset: Dataset, name_or_id: str | None) -> list[LabelSchema]:
        schemas = LabelSchema.objects.filter(dataset=dataset).select_related("dataset")
        if name_or_id is None:
            found = list(schemas)
            if not found:
                raise CommandError(f"dataset {dataset.name!r} has no label schemas")
            return found
        chosen = schemas.filter(name=name_or_id).first()
        if chosen is None and name_or_id.isdigit():
            chosen = schemas.filter(pk=int(name_or_id)).first()
        if chosen is None:
            known = ", ".join(repr(name) for name in schemas.values_list("name", flat=True)) or "none"
            raise CommandError(f"dataset {dataset.name!r} has no label schema {name_or_id!r} (it has: {known})")
        return [chosen]

    def _print_json(self, dataset: Dataset, reports: list[AgreementReport]) -> None:
        document = {"dataset": dataset.name, "schemas": [report.as_dict() for report in reports]}
        self.stdout.write(json.dumps(document, indent=2, ensure_ascii=False))

    def _print_tables(self, report: AgreementReport) -> None:
        write = self.stdout.write
        kind = "multiple labels, compared label by label" if report.kind == LabelSchema.Kind.MULTI else "one label"
        write(f"{report.dataset} · {report.schema} ({kind})")
        imported = "counted as one more annotator" if report.imported_counted else "not counted"
        coders = f"{report.coders} coder" + ("" if report.coders == 1 else "s")
        items = f"{report.items} record" + ("" if report.items == 1 else "s")
        write(f"  {coders}, {items} labeled by two or more; imported labels {imported}")
        write(
            f"  percent agreement {_share(report.percent_agreement)}   "
            f"Fleiss' kappa {_number(report.fleiss_kappa)}   "
            f"Krippendorff's alpha {_number(report.krippendorff_alpha)}"
        )
        write("")
        self._table(
            ["label", "agreement", "Fleiss' kappa", "Krippendorff's alpha"],
            [
                [row.label, _share(row.percent_agreement), _number(row.fleiss_kappa), _number(row.krippendorff_alpha)]
                for row in report.labels
            ],
        )
        self._table(
            ["annotator", "items", "vs final", "(items)", "vs gold", "(items)", "median s", "items/hour"],
            [
                [
                    row.annotator,
                    str(row.items_labeled),
                    _share(row.agreement_with_final),
                    str(row.items_with_final),
                    _share(row.agreement_with_gold),
                    str(row.gold_items),
                    _number(row.median_seconds, digits=1),
                    _number(row.items_per_hour, digits=0),
                ]
                for row in report.annotators
            ],
        )
        self._table(
            ["pair", "items", "Cohen's kappa", "agreement"],
            [
                [f"{row.first} / {row.second}", str(row.items), _number(row.cohen_kappa), _share(row.percent_agreement)]
                for row in report.pairs
            ],
        )
        if report.confusion and any(any(row) for row in report.confusion.counts):
            write("  annotators' label (rows) against the final label (columns)")
            self._table(
                ["", *report.confusion.labels],
                [
                    [label, *(str(count) for count in counts)]
                    for label, counts in zip(report.confusion.labels, report.confusion.counts, strict=True)
                ],
            )

    def _table(self, header: list[str], rows: list[list[str]]) -> None:
        if not rows:
            return
        widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
        for row in [header, *rows]:
            # The first column is a name (left-aligned); the others are figures (right-aligned).
            name, *figures = row
            figures = [cell.rjust(width) for cell, width in zip(figures, widths[1:], strict=True)]
            cells = [name.ljust(widths[0]), *figures]
            self.stdout.write("  " + "  ".join(cells).rstrip())
        self.stdout.write("")


def _number(value: float | None, *, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
