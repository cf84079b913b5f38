from django.core.management.base import CommandError

from labeling.management.commands._classifier_jobs import SchemaJobCommand
from labeling.services.classify import start_classification


class Command(SchemaJobCommand):
    help = (
        "Store model suggestions (predictions) for every embedded record of each schema's dataset, in a "
        "background job, with the schema's newest classifier version (a zero-shot one if it has none)."
    )

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--classifier-version", type=int, help="Use this classifier version instead of the newest.")

    def handle(self, *args, schema, dataset, wait, classifier_version, **options):
        jobs = []
        for found in self.schemas(names=schema, dataset=dataset):
            classifier = None
            if classifier_version is not None:
                classifier = found.classifiers.filter(version=classifier_version).first()
                if classifier is None:
                    raise CommandError(f"{found} has no classifier version {classifier_version}")
            job = start_classification(schema=found, user=None, classifier=classifier)
            self.queued(job, f"classifying the records of {found}")
            jobs.append(job)
        if wait:
            self.follow_all(jobs)
