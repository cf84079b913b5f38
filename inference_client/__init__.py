"""The model behind one small interface. Imports nothing from Django or the apps.

    embedder = get_embedder("local", model="all-MiniLM-L6-v2")
    vectors = embedder.embed(["a text", "another"])   # float32, shape (2, 384), unit length

Backends are chosen by a short name (INFERENCE_BACKEND): `local` (sentence-transformers in this
process), `remote` (inference_server over HTTP, INFERENCE_URL), `fake` (deterministic,
dependency-free, for fast tests). An embedder is created once per process and backend/model and
reused: loading a model costs seconds.
"""

import functools
from importlib import import_module

from inference_client.base import Embedder, InferenceError, ModelInfo

BACKENDS = {
    "local": "inference_client.local.LocalEmbedder",
    "fake": "inference_client.fake.FakeEmbedder",
    "remote": "inference_client.remote.RemoteEmbedder",
}


@functools.cache
def get_embedder(backend: str, *, model: str, threads: int = 0, url: str | None = None) -> Embedder:
    """`url` is the inference service's address, for the `remote` backend only."""
    try:
        module_name, _, class_name = BACKENDS[backend].rpartition(".")
    except KeyError:
        raise InferenceError(f"unknown inference backend {backend!r}; choose one of {sorted(BACKENDS)}") from None
    options = {"url": url} if url is not None else {}
    return getattr(import_module(module_name), class_name)(model=model, threads=threads, **options)


__all__ = ["Embedder", "InferenceError", "ModelInfo", "get_embedder"]
