"""The simulator's embeddings mean something: over real HTTP with the ``openai`` SDK (which asks
for base64), texts that share words are closer than unrelated ones, deterministically, in any
requested size."""

from __future__ import annotations

import math
from collections.abc import Iterator

import openai
import pytest

from daytwo.config.schema import SimSettings
from daytwo.providers.sim.run import running_sim_server
from daytwo.providers.sim.vectors import features, text_vector

pytestmark = pytest.mark.integration

PASSWORD = "How do I reset my password?"
PASSWORD_TOO = "how can I reset my password"
PARIS = "The weather in Paris is sunny today."
RAIN = "Tomorrow brings heavy rain to Oslo and Bergen."


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    with (
        running_sim_server(SimSettings(seed=5)) as url,
        openai.OpenAI(base_url=url, api_key="x", max_retries=0) as c,
    ):
        yield c


def cosine(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def embed(client: openai.OpenAI, texts: list[str], **params: int) -> list[list[float]]:
    resp = client.embeddings.create(model="text-embedding-3-small", input=texts, **params)
    return [d.embedding for d in resp.data]


def test_similar_texts_are_closer_than_unrelated_ones(client: openai.OpenAI) -> None:
    a, b, c, d = embed(client, [PASSWORD, PASSWORD_TOO, PARIS, RAIN])
    assert cosine(a, b) > 0.5
    for unrelated in (cosine(a, c), cosine(a, d), cosine(b, c)):
        assert abs(unrelated) < 0.15
        assert cosine(a, b) > unrelated + 0.4
    assert cosine(c, c) == pytest.approx(1.0, abs=1e-5)


def test_vectors_are_deterministic_and_shorter_ones_keep_the_meaning(
    client: openai.OpenAI,
) -> None:
    first = embed(client, [PASSWORD, PASSWORD_TOO, PARIS])
    assert embed(client, [PASSWORD, PASSWORD_TOO, PARIS]) == first
    short = embed(client, [PASSWORD, PASSWORD_TOO, PARIS], dimensions=256)
    assert [len(v) for v in short] == [256, 256, 256]
    assert cosine(short[0], short[1]) > cosine(short[0], short[2]) + 0.3
    scale = math.sqrt(math.fsum(x * x for x in first[0][:256]))
    assert short[0] == pytest.approx([x / scale for x in first[0][:256]], abs=1e-5)


def test_word_order_and_case_matter_as_bigrams_do() -> None:
    assert features("Reset the password, reset!") == {
        "reset": 2,
        "the": 1,
        "password": 1,
        "reset the": 1,
        "the password": 1,
        "password reset": 1,
    }
    same_words = text_vector("m", "dog bites man", 256).tolist()
    reordered = text_vector("m", "man bites dog", 256).tolist()
    identical = text_vector("m", "Dog bites MAN", 256).tolist()
    assert identical == pytest.approx(same_words, abs=1e-6)
    assert 0.3 < cosine(same_words, reordered) < 0.9  # the words agree, the bigrams do not


def test_inputs_without_words_and_token_arrays_get_unit_vectors(client: openai.OpenAI) -> None:
    resp = client.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3], [1, 2, 4]])
    a, b = (d.embedding for d in resp.data)
    assert 0.2 < cosine(a, b) < 0.9  # token 1, 2 and the pair (1, 2) shared
    for text in ("", "?!"):
        (vector,) = embed(client, [text])
        assert cosine(vector, vector) == pytest.approx(1.0, abs=1e-5)
    assert embed(client, ["?!"]) != embed(client, ["..."])
