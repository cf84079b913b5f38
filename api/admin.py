"""API tokens in the admin: each person creates, sees and revokes their own (administrators see
everyone's, to revoke a leaked one). The token itself is shown once, right after it is created."""

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action, display

from api.models import ApiToken
from api.tokens import issue_secret, revoke_tokens
from config.admin_base import ScopedModelAdmin


@admin.register(ApiToken)
class ApiTokenAdmin(ScopedModelAdmin):
    list_display = ["name", "shown_prefix", "user", "created_at", "last_used_at", "state"]
    list_select_related = ["user"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["user", "shown_prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke_selected"]

    def get_fields(self, request, obj=None):
        return ["name"] if obj is None else ["name", *self.readonly_fields]

    def has_change_permission(self, request, obj=None) -> bool:
        # A token is created and revoked, never edited: its page is read-only.
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        # Revoked rather than deleted: the row keeps when a token was last used.
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.has_perm("api.delete_apitoken")

    def save_model(self, request, obj, form, change):
        obj.user = request.user  # everyone's tokens are their own, administrators' too
        token = issue_secret(obj)
        super().save_model(request, obj, form, change)
        messages.warning(
            request,
            format_html(
                _("Your new API token “{}”: <code class='select-all font-mono'>{}</code> — copy it now: it is "
                  "shown only this once. Send it as <code>Authorization: Bearer &lt;token&gt;</code>."),
                obj.name,
                token,
            ),
        )  # fmt: skip

    @display(description=_("Token"))
    def shown_prefix(self, obj: ApiToken) -> str:
        return f"{obj.prefix}…"

    @display(description=_("State"), label={"active": "success", "revoked": "danger"})
    def state(self, obj: ApiToken) -> str:
        return "revoked" if obj.is_revoked else "active"

    @action(description=_("Revoke selected tokens"), permissions=["revoke"], icon="key_off")
    def revoke_selected(self, request, queryset):
        count = revoke_tokens(tokens=queryset)
        self.message_user(
            request, _("%(n)s token(s) revoked: requests with them are refused from now on.") % {"n": count}
        )
