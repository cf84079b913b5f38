"""The configured embedder for this process (INFERENCE_BACKEND, EMBEDDING_MODEL, TORCH_THREADS)."""

from django.conf import settings

from inference_client import Embedder, get_embedder


def configured_embedder(model: str | None = None) -> Embedder:
    return get_embedder(
        settings.INFERENCE_BACKEND, model=model or settings.EMBEDDING_MODEL, threads=settings.TORCH_THREADS
    )
