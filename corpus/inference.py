"""The configured embedder for this process (INFERENCE_BACKEND, EMBEDDING_MODEL, TORCH_THREADS)."""

from django.conf import settings

from inference_client import Embedder, get_embedder


def configured_embedder(model: str | None = None) -> Embedder:
    # Only the remote backend takes a URL (INFERENCE_URL: where inference_server listens).
    options = {"url": settings.INFERENCE_URL} if settings.INFERENCE_BACKEND == "remote" else {}
    return get_embedder(
        settings.INFERENCE_BACKEND, model=model or settings.EMBEDDING_MODEL, threads=settings.TORCH_THREADS, **options
    )
