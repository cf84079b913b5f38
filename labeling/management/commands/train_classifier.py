from labeling.management.commands._classifier_jobs import SchemaJobCommand
from labeling.services.classify import MIN_TRAINING_RECORDS, start_training


class Command(SchemaJobCommand):
    help = (
        "Build a new classifier version per label schema in a background job: trained on human labels "
        f"(logistic regression, held-out metrics) when {MIN_TRAINING_RECORDS}+ records are labeled, "
        "zero-shot from the labels' names and descriptions otherwise."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--include-imported", action="store_true", help="Train on imported labels too, not only people's."
        )

    def handle(self, *args, schema, dataset, wait, include_imported, **options):
        jobs = []
        for found in self.schemas(names=schema, dataset=dataset):
            job = start_training(schema=found, user=None, include_imported=include_imported)
            self.queued(job, f"training a classifier for {found}")
            jobs.append(job)
        if wait:
            self.follow_all(jobs)
