"""The API's answers when something is wrong: always 4xx with a message a person can act on."""

from dataclasses import dataclass, field


@dataclass
class RowErrors(Exception):
    """Items of a bulk request that cannot be written; nothing of the request was written."""

    detail: str
    errors: list[dict] = field(default_factory=list)  # {index, field, message}, the first 100
    error_count: int = 0

    def __post_init__(self) -> None:
        self.error_count = max(self.error_count, len(self.errors))
