"""What the commands share: finding the dataset a person named on the command line."""

from django.core.management.base import CommandError

from corpus.models import Dataset


def dataset_argument(name_or_id: str) -> Dataset:
    """The dataset with this name, or else with this id; a clear CommandError when neither exists."""
    found = Dataset.objects.filter(name=name_or_id).first()
    if found is None and name_or_id.isdigit():
        found = Dataset.objects.filter(pk=int(name_or_id)).first()
    if found is None:
        raise CommandError(f"no dataset named or numbered “{name_or_id}”")
    return found
