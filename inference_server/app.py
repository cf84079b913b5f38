"""The inference service: `uvicorn inference_server.app:app --host 0.0.0.0 --port 8001`.

    POST /embed   {"texts": [...], "model": optional}  → {"model", "dimensions", "vectors"}
    GET  /health  200 once the default model is loaded
    GET  /models  the models this service embeds with

Configured by environment variables, like the rest of Tally:
    EMBEDDING_MODEL           default model (all-MiniLM-L6-v2); INFERENCE_MODELS adds others (comma-separated)
    INFERENCE_SERVER_BACKEND  local (default) or fake (tests)
    TORCH_THREADS             torch threads per process (0: torch's choice)
    INFERENCE_MAX_TEXTS, INFERENCE_MAX_CHARS, INFERENCE_MAX_BODY_BYTES   request limits
"""

import os
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from inference_client import Embedder, InferenceError, get_embedder


@dataclass(frozen=True)
class ServerSettings:
    default_model: str = "all-MiniLM-L6-v2"
    extra_models: tuple[str, ...] = ()
    backend: str = "local"
    threads: int = 0
    # One request holds at most this much work: 256 texts of MiniLM take ~0.5 s on 2 cores, so
    # a request never outlives a client's timeout, and a bad client cannot exhaust memory.
    max_texts: int = 256
    max_chars: int = 20_000  # ~4,000 words: far past the model's window (256 word pieces)
    max_body_bytes: int = 8 * 1024 * 1024
    preload: bool = True
    models: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", (self.default_model, *[m for m in self.extra_models if m]))

    @classmethod
    def from_environment(cls) -> "ServerSettings":
        env = os.environ
        return cls(
            default_model=env.get("EMBEDDING_MODEL", "all-MiniLM-L6-v2"),
            extra_models=tuple(name.strip() for name in env.get("INFERENCE_MODELS", "").split(",") if name.strip()),
            backend=env.get("INFERENCE_SERVER_BACKEND", "local"),
            threads=int(env.get("TORCH_THREADS", "0")),
            max_texts=int(env.get("INFERENCE_MAX_TEXTS", "256")),
            max_chars=int(env.get("INFERENCE_MAX_CHARS", "20000")),
            max_body_bytes=int(env.get("INFERENCE_MAX_BODY_BYTES", str(8 * 1024 * 1024))),
            preload=env.get("INFERENCE_PRELOAD", "1") != "0",
        )


class EmbedRequest(BaseModel):
    texts: list[str] = Field(description="Texts to embed, in order; at most the service's max_texts.")
    model: str | None = Field(default=None, description="One of GET /models; the default model when empty.")


class EmbedResponse(BaseModel):
    model: str
    dimensions: int
    vectors: list[list[float]] = Field(description="Unit-length vectors, one per text, in the order given.")


class ModelDescription(BaseModel):
    name: str = Field(description="What clients pass as `model`.")
    embedding_name: str = Field(description="What the vectors are stored under: the `model` of /embed answers.")
    dimensions: int
    max_tokens: int
    default: bool


class ModelsResponse(BaseModel):
    models: list[ModelDescription]
    max_texts: int
    max_chars: int


class HealthResponse(BaseModel):
    status: str
    model: str


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings.from_environment()

    def embedder_for(model: str | None) -> Embedder:
        name = model or settings.default_model
        if name not in settings.models:
            raise HTTPException(404, f"model {name!r} is not served here; available: {list(settings.models)}")
        try:
            return get_embedder(settings.backend, model=name, threads=settings.threads)
        except InferenceError as error:
            raise HTTPException(503, str(error)) from error

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if settings.preload:
            # Load the model before taking requests: /health answers 200 only when it is ready.
            get_embedder(settings.backend, model=settings.default_model, threads=settings.threads)
        yield

    app = FastAPI(title="Tally inference service", version="1", lifespan=lifespan)

    @app.middleware("http")
    async def limit_body_size(request: Request, call_next):
        # Refuse oversize bodies before reading them. Without Content-Length (chunked) the size
        # is unknown up front, so such requests are refused too: every HTTP client sends it.
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is None:
                return JSONResponse({"detail": "Content-Length is required"}, status_code=411)
            if not length.isdigit() or int(length) > settings.max_body_bytes:
                return JSONResponse(
                    {"detail": f"request body of {length} bytes exceeds the limit of {settings.max_body_bytes} bytes"},
                    status_code=413,
                )
        return await call_next(request)

    @app.post("/embed", response_model=EmbedResponse)
    def embed(body: EmbedRequest) -> EmbedResponse:
        # A plain `def`: FastAPI runs it in its thread pool, so encoding never blocks the loop.
        if not body.texts:
            raise HTTPException(422, "texts is empty: send at least one text")
        if len(body.texts) > settings.max_texts:
            raise HTTPException(
                413, f"{len(body.texts)} texts in one request; at most {settings.max_texts}: send them in batches"
            )
        for index, text in enumerate(body.texts):
            if len(text) > settings.max_chars:
                raise HTTPException(
                    413, f"texts[{index}] has {len(text)} characters; at most {settings.max_chars} per text"
                )
        embedder = embedder_for(body.model)
        try:
            vectors = embedder.embed(body.texts)
        except InferenceError as error:
            raise HTTPException(503, str(error)) from error
        return EmbedResponse(model=embedder.info.name, dimensions=embedder.info.dimensions, vectors=vectors.tolist())

    @app.get("/health", response_model=HealthResponse)
    def health() -> HealthResponse:
        embedder = embedder_for(None)
        return HealthResponse(status="ok", model=embedder.info.name)

    @app.get("/models", response_model=ModelsResponse)
    def models() -> ModelsResponse:
        described = []
        for name in settings.models:
            info = embedder_for(name).info
            described.append(
                ModelDescription(
                    name=name,
                    embedding_name=info.name,
                    dimensions=info.dimensions,
                    max_tokens=info.max_tokens,
                    default=name == settings.default_model,
                )
            )
        return ModelsResponse(models=described, max_texts=settings.max_texts, max_chars=settings.max_chars)

    return app


app = create_app()
