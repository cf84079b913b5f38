from django.core.management.base import BaseCommand, CommandError

from corpus.management.arguments import dataset_argument
from corpus.models import Dataset
from corpus.services.embed import allowed_models, start_embedding
from jobs.cli import announce_queued, follow_jobs


class Command(BaseCommand):
    help = (
        "Embed datasets in background jobs (only records without a current vector from the model). "
        "With --wait, follow the jobs with a progress bar until they end."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dataset", action="append", default=[], metavar="NAME_OR_ID", help="A dataset (repeatable); default: all."
        )
        parser.add_argument(
            "--model", help=f"Embedding model; one of the allowed ones (default {allowed_models()[0]})."
        )
        parser.add_argument("--wait", action="store_true", help="Follow the jobs until they end.")

    def handle(self, *args, dataset, model, wait, **options):
        if model and model not in allowed_models():
            raise CommandError(
                f"--model {model!r} is not allowed; choose one of {allowed_models()} (EMBEDDING_MODEL_CHOICES)"
            )
        datasets = [dataset_argument(name_or_id) for name_or_id in dataset] or list(Dataset.objects.all())
        if not datasets:
            raise CommandError("there are no datasets to embed")
        jobs = []
        for ds in datasets:
            job = start_embedding(dataset=ds, user=None, model=model)
            jobs.append(job)
            announce_queued(
                job, what=f"embedding of dataset {ds.name!r} (#{ds.pk})", stdout=self.stdout, stderr=self.stderr
            )
        if wait:
            names = {ds.pk: ds.name for ds in datasets}
            follow_jobs(jobs, labels=[names[job.params["dataset_id"]] for job in jobs], stdout=self.stdout)
