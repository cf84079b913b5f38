"""The model on another machine: an HTTP client of inference_server (INFERENCE_URL).

Texts go out in batches the service accepts; connection errors, timeouts and 5xx answers are
retried with exponential backoff; when the service stays unreachable the error says where it
was looked for. 4xx answers are not retried: the request itself is wrong.
"""

import time
from collections.abc import Sequence

import httpx
import numpy as np

from inference_client.base import InferenceError, ModelInfo


class RemoteEmbedder:
    def __init__(
        self,
        *,
        model: str,
        threads: int = 0,  # the service decides its own threads; accepted for one signature
        url: str | None = None,
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 0.5,
        batch_size: int = 128,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url:
            raise InferenceError("the remote inference backend needs INFERENCE_URL, e.g. http://inference:8001")
        self.url = url.rstrip("/")
        self.model = model
        self.retries = retries
        self.backoff = backoff
        self.batch_size = batch_size
        # Connecting fails fast (a service that is down answers nothing); reading may take as
        # long as a batch of texts takes to encode.
        self._client = httpx.Client(
            base_url=self.url, timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)), transport=transport
        )
        self._info: ModelInfo | None = None

    @property
    def info(self) -> ModelInfo:
        """Asked of the service on first use, so building an embedder never needs the network."""
        if self._info is None:
            served = self._request("GET", "/models").json()
            for described in served["models"]:
                if described["name"] == self.model:
                    self.batch_size = min(self.batch_size, served.get("max_texts", self.batch_size))
                    self._info = ModelInfo(
                        name=described["embedding_name"],
                        dimensions=described["dimensions"],
                        max_tokens=described["max_tokens"],
                    )
                    break
            else:
                names = [described["name"] for described in served["models"]]
                raise InferenceError(
                    f"the inference service at {self.url} does not serve {self.model!r}; it has {names}"
                )
        return self._info

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        dimensions = self.info.dimensions
        if not texts:
            return np.zeros((0, dimensions), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            answer = self._request("POST", "/embed", json={"texts": batch, "model": self.model}).json()
            parts.append(np.asarray(answer["vectors"], dtype=np.float32).reshape(len(batch), dimensions))
        return np.concatenate(parts)

    def _request(self, method: str, path: str, **kwargs) -> httpx.Response:
        last_error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self._client.request(method, path, **kwargs)
            except httpx.TransportError as error:  # refused, reset, timed out: the service may come back
                last_error = f"{type(error).__name__}: {error}"
                continue
            if response.status_code >= 500:
                last_error = f"HTTP {response.status_code}: {_detail(response)}"
                continue
            if response.status_code >= 400:
                raise InferenceError(
                    f"the inference service at {self.url} refused {method} {path}: "
                    f"HTTP {response.status_code}: {_detail(response)}"
                )
            return response
        raise InferenceError(
            f"the inference service at {self.url} is unavailable after {self.retries + 1} attempts "
            f"({method} {path}): {last_error}"
        )


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text[:200]
