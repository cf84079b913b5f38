import numpy as np

from inference_client import Embedder, get_embedder


def test_fake_embedder_is_deterministic_unit_length_and_fits_the_protocol():
    fake = get_embedder("fake", model="test")
    first = fake.embed(["late delivery", "late delivery again", "quantum physics"])
    second = fake.embed(["late delivery"])

    assert isinstance(fake, Embedder)
    assert first.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-6)
    np.testing.assert_array_equal(first[0], second[0])
    assert first[0] @ first[1] > first[0] @ first[2]


def test_no_texts_give_an_empty_matrix():
    assert get_embedder("fake", model="test").embed([]).shape == (0, 384)


def test_inference_client_imports_nothing_from_django_or_the_apps():
    import subprocess
    import sys

    code = (
        "import sys, inference_client, inference_client.local, inference_client.fake;"
        "bad = [m for m in sys.modules if m.split('.')[0] in {'django', 'corpus', 'labeling', 'jobs', 'config'}];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
