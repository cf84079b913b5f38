"""Who is calling: `Authorization: Bearer <token>` → the token's owner, with their role's
permissions checked before the request body is even read (403 before 422)."""

from django.conf import settings
from django.core.exceptions import PermissionDenied
from ninja.errors import HttpError
from ninja.security.http import HttpBearer

from api.tokens import token_owner

# A bulk call of 10,000 records is larger than Django's default in-memory limit (2.5 MB), which
# stays as it is for the admin's forms; an authenticated API call may send up to this much.
MAX_REQUEST_BYTES = 64 << 20


class TokenAuth(HttpBearer):
    """A valid token, and every permission in `perms` (a role's, as in the admin)."""

    def __init__(self, *perms: str) -> None:
        super().__init__()
        self.perms = perms

    def __call__(self, request):
        # Unlike HttpBearer's own, never logs the header: it holds the secret.
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self.authenticate(request, token.strip())

    def authenticate(self, request, token: str):
        user = token_owner(token)
        if user is None:
            return None
        request.user = user  # the services and querysets read the person from here, as in the admin
        if not user.has_perms(self.perms):
            raise PermissionDenied
        _read_body(request)
        return user


def _read_body(request) -> None:
    """Read a body above Django's in-memory limit, up to MAX_REQUEST_BYTES, for a caller we know."""
    length = int(request.META.get("CONTENT_LENGTH") or 0)
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if limit is None or length <= limit:
        return
    if length > MAX_REQUEST_BYTES:
        raise HttpError(413, f"The request body is {length:,} bytes; the limit is {MAX_REQUEST_BYTES:,} bytes.")
    request._body = request.read(length)
