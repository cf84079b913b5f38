"""What the `train_classifier` and `classify` commands share: finding schemas, following jobs."""

from django.core.management.base import BaseCommand, CommandError

from jobs.cli import announce_queued, follow_jobs
from jobs.models import Job
from labeling.models import LabelSchema


class SchemaJobCommand(BaseCommand):
    def add_arguments(self, parser):
        parser.add_argument(
            "--schema",
            action="append",
            default=[],
            metavar="ID_OR_NAME",
            help="A label schema by id or name (repeatable); default: every schema.",
        )
        parser.add_argument("--dataset", metavar="NAME_OR_ID", help="Only schemas of this dataset.")
        parser.add_argument("--wait", action="store_true", help="Follow the jobs with a progress bar until they end.")

    def schemas(self, *, names: list[str], dataset: str | None) -> list[LabelSchema]:
        schemas = LabelSchema.objects.select_related("dataset")
        if dataset:
            by_dataset = schemas.filter(dataset__name=dataset)
            if not by_dataset.exists() and dataset.isdigit():
                by_dataset = schemas.filter(dataset_id=int(dataset))
            schemas = by_dataset
        if not names:
            found = list(schemas)
            if not found:
                raise CommandError("there are no label schemas" + (f" in dataset {dataset!r}" if dataset else ""))
            return found
        chosen = []
        for name in names:
            matches = list(schemas.filter(name=name))
            if not matches and name.isdigit():
                matches = list(schemas.filter(pk=int(name)))
            if not matches:
                raise CommandError(f"no label schema named or numbered {name!r}")
            if len(matches) > 1:
                raise CommandError(
                    f"{len(matches)} schemas are named {name!r} (in {', '.join(s.dataset.name for s in matches)}); "
                    "add --dataset or pass the schema's id"
                )
            chosen.append(matches[0])
        return chosen

    def queued(self, job: Job, what: str) -> None:
        announce_queued(job, what=what, stdout=self.stdout, stderr=self.stderr)

    def follow_all(self, jobs: list[Job]) -> None:
        follow_jobs(jobs, labels=[job.kind for job in jobs], stdout=self.stdout)
