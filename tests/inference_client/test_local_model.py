"""The real all-MiniLM-L6-v2 model, loaded from its package with no network."""

import numpy as np
import pytest

from inference_client import InferenceError, get_embedder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model():
    return get_embedder("local", model="all-MiniLM-L6-v2", threads=1)


def test_real_model_gives_384_dimensional_unit_vectors(model):
    vectors = model.embed(["The parcel arrived two days late.", "Das Paket kam zu spät."])

    assert model.info.dimensions == 384
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(model):
    anchor, paraphrase, unrelated = model.embed(
        [
            "The delivery came two days after the promised date.",
            "My package arrived late, two days past the deadline.",
            "Photosynthesis turns light into chemical energy in plants.",
        ]
    )

    assert anchor @ paraphrase > anchor @ unrelated + 0.3


def test_same_text_gives_the_same_vector_in_any_batch(model):
    alone = model.embed(["A short sentence."])[0]
    batched = model.embed(["Something much longer that changes the padding of the batch a lot.", "A short sentence."])[
        1
    ]

    np.testing.assert_allclose(alone, batched, atol=1e-5)


def test_a_missing_model_folder_says_what_is_wrong(tmp_path):
    with pytest.raises(InferenceError, match="neither a packaged model"):
        get_embedder("local", model=str(tmp_path / "no-such-model"))


def test_an_unknown_backend_is_refused():
    with pytest.raises(InferenceError, match="unknown inference backend 'gpu-cloud'"):
        get_embedder("gpu-cloud", model="all-MiniLM-L6-v2")
