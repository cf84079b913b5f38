"""The admin's rule, for the API: an object outside the caller's datasets is answered exactly
like one that does not exist (404), so ids reveal nothing."""

from ninja.errors import HttpError


def find_visible(queryset, pk: int, noun: str):
    """The object `pk` of `queryset` as the caller may see it (`visible_to` already applied), or 404."""
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise HttpError(404, f"{noun} {pk} not found.")
    return found
