"""What every Tally admin page shares: who may see which objects.

A model's `visible_to(user)` queryset method is the one rule of what a user may see; these
classes apply it to lists, object pages, foreign-key choices and filters, so an id outside the
user's datasets answers 404 and never shows up in a dropdown.
"""

from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.http import Http404
from django.template.response import TemplateResponse
from unfold.admin import ModelAdmin
from unfold.contrib.filters.admin import RelatedDropdownFilter
from unfold.mixins import DatasetModelAdminMixin


def _visible(queryset, user):
    return queryset.visible_to(user) if hasattr(queryset, "visible_to") else queryset


class _ChangeFormWithoutDatasets(DatasetModelAdminMixin):
    """unfold reads every change-form POST with a field named "dataset" as an action on one of the
    page's dataset tables (DatasetModelAdminMixin), even on pages that have none: saving a record or
    a label set (both have a `dataset` field) only said "Items must be selected". Pages without
    such tables skip that step."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if self.get_changeform_datasets(request):
            return super().changeform_view(request, object_id, form_url, extra_context)
        return super(DatasetModelAdminMixin, self).changeform_view(request, object_id, form_url, extra_context)


class ScopedModelAdmin(ModelAdmin, _ChangeFormWithoutDatasets):
    list_filter_submit = True
    warn_unsaved_form = True

    def get_queryset(self, request):
        return _visible(super().get_queryset(request), request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            kwargs["queryset"] = _visible(db_field.remote_field.model._default_manager.all(), request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if "queryset" not in kwargs:
            kwargs["queryset"] = _visible(db_field.remote_field.model._default_manager.all(), request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django's admin redirects to the index with "doesn't exist"; an object outside the
        # user's datasets must be indistinguishable from one that never existed: 404.
        raise Http404


class VisibleRelatedFilter(RelatedDropdownFilter):
    """A dropdown of the related objects the user may see (never other teams' dataset names)."""

    def field_choices(self, field, request, model_admin):
        related = _visible(field.related_model._default_manager.all(), request.user)
        return [(obj.pk, str(obj)) for obj in related]


def action_form_page(model_admin, request, form, *, template: str, action: str, title: str) -> TemplateResponse:
    """The intermediate page of an admin action that asks something first ("Re-embed with model…",
    "Set final label…"): it carries the selection along, so posting it runs the action again.
    `template` extends admin/action_form.html."""
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": title,
        "form": form,
        "action": action,
        "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
    }
    return TemplateResponse(request, template, context)
