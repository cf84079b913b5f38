"""Which function does the work of each job kind. Filled by the apps that own the work."""

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobs.models import Job

Handler = Callable[["Job"], None]
_handlers: dict[str, Handler] = {}


def register(kind: str) -> Callable[[Handler], Handler]:
    """Decorator: `@register("embed")` makes the function the handler of jobs of that kind."""

    def decorator(handler: Handler) -> Handler:
        if _handlers.get(kind, handler) is not handler:
            raise ValueError(f"job kind {kind!r} already has a handler: {_handlers[kind]!r}")
        _handlers[kind] = handler
        return handler

    return decorator


def handler_for(kind: str) -> Handler:
    try:
        return _handlers[kind]
    except KeyError:
        raise LookupError(f"no handler registered for job kind {kind!r}; known: {sorted(_handlers)}") from None


def kinds() -> list[str]:
    return sorted(_handlers)
