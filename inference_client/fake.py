"""A deterministic embedder with no model: hashed bag of words, unit length.

Texts that share words get similar vectors, so search and near-duplicate logic behave sensibly
in unit tests; nothing here is a claim about the real model.
"""

import hashlib
import os
import re
import time
from collections.abc import Sequence

import numpy as np

from inference_client.base import ModelInfo

_WORD = re.compile(r"\w+")


class FakeEmbedder:
    def __init__(
        self, *, model: str = "fake", threads: int = 0, dimensions: int = 384, delay: float | None = None
    ) -> None:
        self.info = ModelInfo(name=f"fake:{model}", dimensions=dimensions, max_tokens=10_000)
        # Seconds per embed() call, so process tests can kill a worker mid-job deterministically
        # (FAKE_EMBED_DELAY in the worker's environment).
        self.delay = float(os.environ.get("FAKE_EMBED_DELAY", "0")) if delay is None else delay

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.info.dimensions, dtype=np.float32)
        for word in _WORD.findall(text.lower()) or [""]:
            digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.info.dimensions
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        norm = np.linalg.norm(vector)
        if norm == 0:
            vector[0] = 1.0
            return vector
        return vector / norm

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if self.delay:
            time.sleep(self.delay)
        if not texts:
            return np.zeros((0, self.info.dimensions), dtype=np.float32)
        return np.stack([self._vector(text) for text in texts]).astype(np.float32)
