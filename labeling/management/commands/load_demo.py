from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from labeling.services.demo import load_demo_dataset


class Command(BaseCommand):
    help = "Load the demo dataset (WordNet noun classes) unless it is there already."

    def add_arguments(self, parser):
        parser.add_argument("--member", action="append", default=[], help="Username to add to the dataset.")

    def handle(self, *args, member, **options):
        users = [get_user_model().objects.get(username=name) for name in member]
        result = load_demo_dataset(members=users)
        if result.created:
            self.stdout.write(
                f"Loaded “{result.dataset.name}”: {result.records:,} records, "
                f"{result.imported_annotations:,} imported labels."
            )
        else:
            self.stdout.write(f"“{result.dataset.name}” is already loaded ({result.records:,} records).")
