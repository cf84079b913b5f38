from django import forms
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin, TabularInline
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.paginator import InfinitePaginator

from config.admin_base import ScopedModelAdmin, VisibleRelatedFilter
from corpus.models import Dataset, Membership
from labeling.models import Annotation, ClassifierVersion, Label, LabelSchema, Prediction
from labeling.roles import Role, role_of


class LabelInline(TabularInline):
    model = Label
    extra = 0
    fields = ["name", "hotkey", "color", "order", "description"]


@admin.register(LabelSchema)
class LabelSchemaAdmin(ScopedModelAdmin):
    list_display = ["name", "dataset", "kind", "label_names"]
    list_filter = [("dataset", VisibleRelatedFilter), "kind"]
    search_fields = ["name", "dataset__name"]
    inlines = [LabelInline]
    list_select_related = ["dataset"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("labels")

    @display(description=_("Labels"))
    def label_names(self, obj: LabelSchema) -> str:
        return ", ".join(label.name for label in obj.labels.all())


@admin.register(Label)
class LabelAdmin(ScopedModelAdmin):
    list_display = ["name", "schema", "hotkey", "swatch", "order"]
    list_filter = [("schema__dataset", VisibleRelatedFilter)]
    search_fields = ["name", "description"]
    list_select_related = ["schema__dataset"]

    @display(description=_("Colour"))
    def swatch(self, obj: Label) -> str:
        return format_html(
            '<span style="display:inline-block;width:1rem;height:1rem;border-radius:4px;background:{}"></span> {}',
            obj.color,
            obj.color,
        )


@admin.register(Annotation)
class AnnotationAdmin(ScopedModelAdmin):
    list_display = ["id", "record_text", "schema", "label_names", "author", "seconds_spent", "created_at"]
    list_filter = [("record__dataset", VisibleRelatedFilter), "source"]
    list_select_related = ["record", "schema__dataset", "annotator"]
    search_fields = ["=record__id", "record__external_id"]
    readonly_fields = ["record", "schema", "annotator", "source", "labels", "seconds_spent", "created_at", "updated_at"]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("labels")

    def has_add_permission(self, request) -> bool:
        # Annotations come from the annotate screen, imports and the API, never typed in here.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @display(description=_("Record"))
    def record_text(self, obj: Annotation) -> str:
        text = obj.record.text
        return text if len(text) <= 80 else text[:79] + "…"

    @display(description=_("Labels"))
    def label_names(self, obj: Annotation) -> str:
        return format_html_join(
            " ", '<span style="color:{}">●</span> {}', ((lab.color, lab.name) for lab in obj.labels.all())
        )

    @display(description=_("By"))
    def author(self, obj: Annotation) -> str:
        return str(obj.annotator) if obj.annotator else obj.get_source_display()


class ReadOnlyAdminMixin:
    """Rows that only Tally's own processes write (imports, jobs): shown, never typed in."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Prediction)
class PredictionAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["id", "record_id", "label", "score", "source", "model_version", "created_at"]
    list_filter = [("record__dataset", VisibleRelatedFilter), "source"]
    list_select_related = ["label"]
    search_fields = ["=record__id", "model_version"]
    paginator = InfinitePaginator
    show_full_result_count = False


@admin.register(ClassifierVersion)
class ClassifierVersionAdmin(ReadOnlyAdminMixin, ScopedModelAdmin):
    list_display = ["schema", "version", "kind", "embedding_model", "trained_on", "created_at"]
    list_select_related = ["schema__dataset"]
    list_filter = [("schema__dataset", VisibleRelatedFilter), "kind"]
    readonly_fields = [
        "schema",
        "version",
        "kind",
        "embedding_model",
        "trained_on",
        "metrics",
        "created_by",
        "created_at",
    ]
    fields = readonly_fields


# --- The team: people, their role and their datasets ------------------------------------------


class TeamMemberFieldsMixin(forms.Form):
    """The role and the datasets of a person, on both the add and the change form."""

    role = forms.ChoiceField(choices=[("", _("No role (superusers only)")), *Role.choices], required=False)
    datasets = forms.ModelMultipleChoiceField(queryset=Dataset.objects.none(), required=False)

    def setup_team_fields(self, request) -> None:
        self.request = request
        self.fields["datasets"].queryset = Dataset.objects.visible_to(request.user)
        self.fields["datasets"].help_text = _("The datasets this person works on.")
        if not request.user.is_superuser:
            self.fields["role"].choices = Role.choices
            self.fields["role"].required = True
        if self.instance.pk:
            self.fields["role"].initial = role_of(self.instance) or ""
            self.fields["datasets"].initial = list(self.instance.datasets.values_list("pk", flat=True))

    def save_team_fields(self, user: User) -> None:
        role = self.cleaned_data.get("role")
        user.groups.remove(*Group.objects.filter(name__in=Role.values))
        if role:
            user.groups.add(Group.objects.get(name=role))
        # Only the datasets the editor can see are touched: others' memberships stay as they are.
        editable = set(self.fields["datasets"].queryset.values_list("pk", flat=True))
        chosen = {dataset.pk for dataset in self.cleaned_data.get("datasets", [])}
        Membership.objects.filter(user=user, dataset_id__in=editable - chosen).delete()
        for dataset_id in chosen - set(user.datasets.values_list("pk", flat=True)):
            Membership.objects.create(user=user, dataset_id=dataset_id)


class TeamMemberCreationForm(TeamMemberFieldsMixin, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ["username", "first_name", "last_name", "email"]


class TeamMemberChangeForm(TeamMemberFieldsMixin, UserChangeForm):
    pass


admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = TeamMemberChangeForm
    add_form = TeamMemberCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ["username", "full_name", "email", "role", "is_active", "last_login"]
    list_filter = ["groups", "is_active", "is_superuser"]
    search_fields = ["username", "first_name", "last_name", "email"]
    add_fieldsets = [
        (None, {"fields": ["username", "first_name", "last_name", "email", "password1", "password2"]}),
        (_("Role and datasets"), {"fields": ["role", "datasets"]}),
    ]

    def get_queryset(self, request):
        qs = super().get_queryset(request).prefetch_related("groups")
        if not request.user.is_superuser:
            # Data leads manage the team, never the administrators' accounts.
            qs = qs.filter(is_superuser=False)
        return qs

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return self.add_fieldsets
        role_fields = (_("Role and datasets"), {"fields": ["role", "datasets"]})
        if request.user.is_superuser:
            return [*super().get_fieldsets(request, obj), role_fields]
        return [
            (None, {"fields": ["username", "first_name", "last_name", "email", "is_active"]}),
            role_fields,
        ]

    def get_form(self, request, obj=None, **kwargs):
        form_class = super().get_form(request, obj, **kwargs)

        class RequestForm(form_class):
            def __init__(self, *args, **inner_kwargs):
                super().__init__(*args, **inner_kwargs)
                self.setup_team_fields(request)

        return RequestForm

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        if not change:
            obj.is_staff = True  # everyone works inside the admin
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        form.save_team_fields(form.instance)

    def user_change_password(self, request, id, form_url=""):
        if not request.user.is_superuser:
            # A data lead setting a colleague's password would be an account takeover.
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        from django.http import Http404

        raise Http404

    @display(description=_("Name"))
    def full_name(self, obj: User) -> str:
        return obj.get_full_name()

    @display(description=_("Role"))
    def role(self, obj: User) -> str:
        if obj.is_superuser:
            return "Admin"
        return role_of(obj) or "—"


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass
