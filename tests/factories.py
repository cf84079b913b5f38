import factory
from django.contrib.auth.models import Group, Permission, User

from corpus.models import Dataset, Document, Membership, Record
from corpus.text import content_hash
from jobs.models import Job
from labeling.models import Annotation, ClassifierVersion, Label, LabelSchema, Prediction
from labeling.roles import sync_role_groups


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"person{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            if not Group.objects.filter(name=extracted).exists():
                # The groups come from a data migration; a transactional test's flush removed them.
                sync_role_groups(Group, Permission)
            self.groups.add(Group.objects.get(name=extracted))
        self.save()


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Dataset {n}")
    description = "Reviews of things"

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        for user in extracted or []:
            Membership.objects.create(dataset=self, user=user)


class RecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Record

    dataset = factory.SubFactory(DatasetFactory)
    text = factory.Sequence(lambda n: f"The delivery was late, order number {n}.")
    content_hash = factory.LazyAttribute(lambda r: content_hash(r.text))


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    dataset = factory.SubFactory(DatasetFactory)
    file = factory.django.FileField(filename="report.txt", data=b"A short report.\n")
    original_name = "report.txt"
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    kind = Document.Kind.TXT
    size_bytes = 16


class LabelSchemaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabelSchema
        django_get_or_create = ("dataset", "name")

    dataset = factory.SubFactory(DatasetFactory)
    name = "Sentiment"


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    schema = factory.SubFactory(LabelSchemaFactory)
    name = factory.Sequence(lambda n: f"label-{n}")


class AnnotationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Annotation
        skip_postgeneration_save = True

    record = factory.SubFactory(RecordFactory)
    schema = factory.SubFactory(LabelSchemaFactory, dataset=factory.SelfAttribute("..record.dataset"))
    annotator = factory.SubFactory(UserFactory, role="Annotator")
    source = Annotation.Source.HUMAN

    @factory.post_generation
    def labels(self, create, extracted, **kwargs):
        if extracted:
            self.labels.set(extracted)


class PredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prediction

    record = factory.SubFactory(RecordFactory)
    schema = factory.SubFactory(LabelSchemaFactory, dataset=factory.SelfAttribute("..record.dataset"))
    label = factory.SubFactory(LabelFactory, schema=factory.SelfAttribute("..schema"))
    score = 0.8
    model_version = "test-model v1"


class ClassifierVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClassifierVersion

    schema = factory.SubFactory(LabelSchemaFactory)
    version = factory.Sequence(lambda n: n + 1)
    kind = ClassifierVersion.Kind.ZERO_SHOT
    embedding_model = "all-MiniLM-L6-v2"


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    kind = "embed"
    params = factory.LazyFunction(dict)
