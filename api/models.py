from django.conf import settings
from django.db import models
from django.db.models import Q

PREFIX_CHARS = 8  # shown in lists so people can tell their tokens apart; never enough to use one


class ApiTokenQuerySet(models.QuerySet):
    def visible_to(self, user) -> "ApiTokenQuerySet":
        """Tokens `user` may see and revoke: their own; superusers see everyone's."""
        if not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(user=user)

    def usable(self) -> "ApiTokenQuerySet":
        """Tokens that still open the API: not revoked, of an active account that may use Tally."""
        return self.filter(revoked_at__isnull=True, user__is_active=True, user__is_staff=True)


class ApiToken(models.Model):
    """A personal key for the REST API: whoever holds it acts as `user`, with their role and
    datasets. Only the SHA-256 of the secret is stored: the token itself is shown once, when it
    is created, and a copy of the database opens nothing."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. “nightly export script”.")
    prefix = models.CharField(max_length=PREFIX_CHARS, editable=False, help_text="The token's first characters.")
    secret_hash = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the token, hex.")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"
        constraints = [
            models.UniqueConstraint(fields=["secret_hash"], name="apitoken_unique_hash"),
            models.CheckConstraint(
                condition=Q(secret_hash__regex=r"^[0-9a-f]{64}$"),  # noqa: S106 (a pattern, not a secret)
                name="apitoken_hash_hex",
            ),
        ]
        indexes = [
            # Authentication finds the candidates by prefix, then compares hashes in constant time.
            models.Index(fields=["prefix"], name="apitoken_by_prefix"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
