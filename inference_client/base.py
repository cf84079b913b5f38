from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


class InferenceError(RuntimeError):
    """The model cannot be reached or loaded; the message says which and why."""


@dataclass(frozen=True)
class ModelInfo:
    name: str  # what is stored beside each vector: switching the model re-embeds
    dimensions: int
    max_tokens: int  # longer texts are truncated to this many word pieces by the model


@runtime_checkable
class Embedder(Protocol):
    info: ModelInfo

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in the order given."""
        ...
