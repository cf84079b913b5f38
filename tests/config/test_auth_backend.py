"""config.auth.ModelBackend reads a person's permissions in one query and answers exactly what
Django's own ModelBackend answers: their own, their groups', all for a superuser, none when
inactive."""

import pytest
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.contrib.auth.models import Group, Permission

from config.auth import ModelBackend
from labeling.roles import Role
from tests.factories import UserFactory


def fresh(user):
    """The same person without the permission caches a previous check left on the object."""
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def people(db):
    annotator = UserFactory(username="annie", role=Role.ANNOTATOR)
    direct = UserFactory(username="dora")
    direct.user_permissions.add(Permission.objects.get(codename="view_job"))
    both = UserFactory(username="bo", role=Role.REVIEWER)
    both.user_permissions.add(Permission.objects.get(codename="view_job"))
    nobody = UserFactory(username="nemo")
    inactive = UserFactory(username="gone", role=Role.DATA_LEAD, is_active=False)
    boss = UserFactory(username="boss", is_superuser=True)
    return [annotator, direct, both, nobody, inactive, boss]


def test_permissions_are_exactly_djangos(people):
    for person in people:
        ours = ModelBackend().get_all_permissions(fresh(person))
        theirs = DjangoModelBackend().get_all_permissions(fresh(person))
        assert ours == theirs, person.username


def test_each_source_of_permissions_counts(people):
    annotator, direct, both, nobody, inactive, boss = people
    backend = ModelBackend()
    assert "labeling.annotate_records" in backend.get_all_permissions(fresh(annotator))
    assert backend.get_all_permissions(fresh(direct)) == {"jobs.view_job"}
    both_perms = backend.get_all_permissions(fresh(both))
    assert {"jobs.view_job", "labeling.review_records"} <= both_perms
    assert backend.get_all_permissions(fresh(nobody)) == set()
    assert backend.get_all_permissions(fresh(inactive)) == set()
    assert len(backend.get_all_permissions(fresh(boss))) == Permission.objects.count()


def test_one_query_then_cached(people, django_assert_num_queries):
    annotator = fresh(people[0])
    with django_assert_num_queries(1):
        assert annotator.has_perm("labeling.annotate_records")
        assert not annotator.has_perm("labeling.review_records")
        assert annotator.has_module_perms("labeling")


def test_a_group_losing_a_permission_takes_it_from_its_members(people):
    annotator = people[0]
    Group.objects.get(name=Role.ANNOTATOR).permissions.remove(Permission.objects.get(codename="annotate_records"))
    assert not fresh(annotator).has_perm("labeling.annotate_records")
