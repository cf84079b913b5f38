"""Creating, checking and revoking API tokens.

A token is `tly_` and 43 random URL-safe characters (256 bits). The database keeps its first
characters (to find it and to show it) and its SHA-256: a fast hash is right here, because the
secret is random and long, unlike a password that needs a slow one.
"""

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.utils import timezone

from api.models import PREFIX_CHARS, ApiToken

# A mark that lets secret scanners and people recognise a leaked Tally token.
TOKEN_MARK = "tly_"  # noqa: S105 (not a secret)
LAST_USED_RESOLUTION = timedelta(minutes=1)  # at most one write per token per minute


def hash_secret(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_secret(row: ApiToken) -> str:
    """Give an unsaved token row a new secret (its prefix and hash); returns the secret, which is
    never available again once the caller has shown it."""
    token = TOKEN_MARK + secrets.token_urlsafe(32)
    row.prefix, row.secret_hash = token[:PREFIX_CHARS], hash_secret(token)
    return token


def create_token(*, user, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`: the row, and the token itself."""
    row = ApiToken(user=user, name=name)
    token = issue_secret(row)
    row.save()
    return row, token


def revoke_tokens(*, tokens) -> int:
    """Revoke the tokens not yet revoked; returns how many. Requests with them answer 401 from now on."""
    return tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_owner(token: str):
    """The user a presented token acts for, or None (unknown, revoked, or the account is inactive)."""
    if not token.startswith(TOKEN_MARK) or len(token) > 200:
        return None
    presented = hash_secret(token)
    found = None
    # Every candidate with the prefix is compared, in constant time, so the time taken says
    # nothing about how much of the hash matched.
    for row in ApiToken.objects.usable().filter(prefix=token[:PREFIX_CHARS]).select_related("user"):
        if hmac.compare_digest(row.secret_hash, presented):
            found = row
    if found is None:
        return None
    now = timezone.now()
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_RESOLUTION:
        # A busy script would otherwise write this row on every request.
        ApiToken.objects.filter(pk=found.pk).update(last_used_at=now)
    found.user.api_token = found
    return found.user
