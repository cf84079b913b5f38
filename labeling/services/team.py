"""A person's place in the team: their role and the datasets they work on. The People form and
the People import both write through here, so they cannot drift apart."""

from django.contrib.auth.models import Group, User

from corpus.models import Membership
from labeling.roles import Role


def assign_role_and_datasets(*, person: User, role: str, datasets, editable) -> None:
    """Give `person` exactly `role` (or none) and, among the `editable` datasets (those the editor
    can see), exactly `datasets`. Memberships in datasets the editor cannot see stay as they are:
    a data lead reorganising their team must not take anyone off another team's data."""
    person.groups.remove(*Group.objects.filter(name__in=Role.values))
    if role:
        person.groups.add(Group.objects.get(name=role))
    editable_ids = set(editable.values_list("pk", flat=True))
    chosen = {dataset.pk for dataset in datasets}
    Membership.objects.filter(user=person, dataset_id__in=editable_ids - chosen).delete()
    current = set(person.datasets.values_list("pk", flat=True))
    Membership.objects.bulk_create([Membership(user=person, dataset_id=pk) for pk in chosen - current])
