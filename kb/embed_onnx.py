"""ONNX Runtime embedding backend: the same model, dynamically quantised to int8, exported once per data dir."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

from kb.embed import Embedder
from kb.embed import FakeEmbedder
from kb.embed import SentenceTransformerEmbedder
from kb.embed import resolve_model
from kb.errors import MissingDependency

BACKENDS = ("torch", "onnx-int8")
QUANTIZATIONS = ("avx512_vnni", "avx512", "avx2", "arm64")
PIP_HINT = "pip install 'optimum[onnxruntime]==2.1.0' onnxruntime==1.31.1 onnx==1.23.2"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """CPU feature flags of the first processor (empty when /proc/cpuinfo is not there)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def quantization_for_cpu(flags: set[str] | None = None, machine: str | None = None) -> str:
    """The sentence-transformers dynamic quantisation config that suits this CPU.

    Args:
        flags: CPU flags (default: read from /proc/cpuinfo).
        machine: ``platform.machine()`` value (default: this machine's).

    Returns:
        One of ``avx512_vnni``, ``avx512``, ``avx2`` (also the fallback for other x86 CPUs) or ``arm64``.
    """
    machine = (machine or platform.machine()).lower()
    if machine in {"arm64", "aarch64"}:
        return "arm64"
    flags = cpu_flags() if flags is None else flags
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags and "avx512bw" in flags:
        return "avx512"
    return "avx2"


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def model_slug(model: str) -> str:
    """A folder-safe name for a model setting (``bundled:all-MiniLM-L6-v2`` -> ``bundled-all-MiniLM-L6-v2``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-") or "model"


def export_quantized(location: str, target: Path, quantization: str) -> str:
    """Export ``location`` (a local sentence-transformers folder) to a dynamically quantised int8 ONNX model.

    The model folder is copied into ``target`` first (site-packages may be read-only), the int8 file is written
    under ``target/onnx/``; the work happens in a temporary sibling folder, moved in place at the end, so two
    processes exporting at once cannot leave a half-written model behind.

    Args:
        location: folder of the original model.
        target: folder that will hold the copy and its ``onnx/`` subfolder.
        quantization: one of ``QUANTIZATIONS``.

    Returns:
        The model file relative to ``target`` (``onnx/model_int8_<quantization>.onnx``).

    Raises:
        MissingDependency: optimum / onnxruntime are missing or the export failed.
    """
    file_name = f"onnx/model_int8_{quantization}.onnx"
    if (target / file_name).exists():
        return file_name
    if not Path(location).is_dir():
        raise MissingDependency(f"the ONNX backend needs a local model folder, got {location!r}: download the model "
                                "to a folder and set KB_EMBED_MODEL to it, or set KB_EMBED_BACKEND=torch")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        shutil.copytree(location, tmp, ignore=shutil.ignore_patterns("onnx", "openvino", ".git"))
        try:
            from sentence_transformers import SentenceTransformer
            from sentence_transformers import export_dynamic_quantized_onnx_model

            # The torch tracer warns about constants folded into the graph (harmless for this export); under
            # warnings-as-errors (pytest) such a warning would abort the trace from inside torch.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = SentenceTransformer(str(tmp), backend="onnx", device="cpu")
                export_dynamic_quantized_onnx_model(model, quantization, str(tmp), file_suffix=f"int8_{quantization}")
        except Exception as exc:
            raise MissingDependency(f"exporting {location} to ONNX int8 failed ({type(exc).__name__}: {exc}): "
                                    f"{PIP_HINT}, or set KB_EMBED_BACKEND=torch") from exc
        if not (tmp / file_name).exists():
            raise MissingDependency(f"the ONNX export wrote no {file_name}: {PIP_HINT}, or set KB_EMBED_BACKEND=torch")
        # The int8 file carries its own weights; the 87 MB fp32 copy would only bloat the data dir.
        for weights in ("model.safetensors", "pytorch_model.bin"):
            (tmp / weights).unlink(missing_ok=True)
        try:
            os.rename(tmp, target)
        except OSError:  # the folder exists (another quantisation, or another process won the race)
            (target / "onnx").mkdir(parents=True, exist_ok=True)
            os.replace(tmp / file_name, target / file_name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return file_name


class OnnxEmbedder(SentenceTransformerEmbedder):
    """The sentence-transformers model run by ONNX Runtime with int8 weights; same interface as the torch one.

    ``encode``, ``encode_query`` and ``count_tokens`` are inherited: they only use ``self._model``, which is a
    ``SentenceTransformer`` here too (``backend="onnx"``). Dynamic quantisation scales activations per batch, so
    a text's vector depends slightly on the texts batched with it (cosine ~0.98-1.0 between two runs).
    """

    def __init__(self, model: str, cache_dir: Path, max_tokens: int = 128, batch_size: int = 64,
                 quantization: str | None = None, threads: int | None = None, cache_size: int = 2048) -> None:
        """Export the model once (into ``cache_dir``) and load it.

        Args:
            model: the EMBED_MODEL setting (``bundled:...``, a folder, or a hub name already in the local cache).
            cache_dir: writable folder for exported models (``<DATA_DIR>/models``).
            max_tokens: truncation length in word pieces.
            batch_size: texts per ONNX Runtime call.
            quantization: one of ``QUANTIZATIONS`` (default: chosen from the CPU flags).
            threads: ONNX Runtime intra-op threads (default: the cores this process may use).
            cache_size: recent query vectors kept.

        Raises:
            MissingDependency: onnxruntime / optimum are not installed, or the export failed.
        """
        for module in ("onnxruntime", "optimum.onnxruntime"):
            try:
                found = importlib.util.find_spec(module) is not None
            except ModuleNotFoundError:
                found = False
            if not found:
                raise MissingDependency(f"the onnx-int8 embedding backend needs {module}: {PIP_HINT}, "
                                        "or set KB_EMBED_BACKEND=torch")
        import onnxruntime as ort
        from sentence_transformers import SentenceTransformer

        quantization = quantization or quantization_for_cpu()
        if quantization not in QUANTIZATIONS:
            raise ValueError(f"unknown quantization {quantization!r}; use one of {', '.join(QUANTIZATIONS)}")
        location = resolve_model(model)
        if Path(location).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        target = Path(cache_dir) / f"{model_slug(model)}-onnx-int8"
        file_name = export_quantized(location, target, quantization)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        # No busy-waiting between runs: spinning threads starve faiss, SQLite and the other request threads on
        # 2 cores (measured: dense search 35 -> 19 ms per query in `kb serve`'s process; bulk encode not slower).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The name says backend and quantisation: its vectors differ a little from fp32 ones (and from another
        # quantisation's), so the embedding cache and index.json must never mix them.
        self.name = f"{model}@{max_tokens}+onnx-int8-{quantization}"
        self.quantization = quantization
        self.model_dir = target
        self._model = SentenceTransformer(
            str(target), backend="onnx", device="cpu",
            model_kwargs={"file_name": file_name, "provider": "CPUExecutionProvider", "session_options": options})
        self._model.max_seq_length = max_tokens
        self.max_tokens = max_tokens
        model_ = self._model
        dimension = getattr(model_, "get_embedding_dimension", None) or model_.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._cache = OrderedDict()
        self._cache_size = cache_size


def load_embedder_for(settings: dict[str, Any]) -> Embedder:
    """The embedder the settings name, on the configured backend.

    Args:
        settings: the settings dict (``EMBED_MODEL``, ``EMBED_BACKEND``, ``EMBED_MAX_TOKENS``, ``EMBED_BATCH``,
            ``EMBED_DEVICE``, ``DATA_DIR``, optional ``EMBED_CACHE_DIR``); a missing ``EMBED_BACKEND`` means ``torch``.

    Returns:
        A ``FakeEmbedder`` for ``EMBED_MODEL`` = ``fake[:dim]``, else a ``SentenceTransformerEmbedder`` (torch) or an
        ``OnnxEmbedder`` (onnx-int8, exported once under ``EMBED_CACHE_DIR``, default ``<DATA_DIR>/models``).

    Raises:
        ValueError: unknown ``EMBED_BACKEND``.
        MissingDependency: the backend's packages are missing.
    """
    name = settings["EMBED_MODEL"]
    if name == "fake" or name.startswith("fake:"):
        dim = int(name.split(":", 1)[1]) if ":" in name else 64
        return FakeEmbedder(dim=dim, name=name)
    backend = settings.get("EMBED_BACKEND") or "torch"
    max_tokens = int(settings["EMBED_MAX_TOKENS"])
    batch = int(settings["EMBED_BATCH"])
    if backend == "torch":
        return SentenceTransformerEmbedder(name, max_tokens=max_tokens or None, batch_size=batch,
                                           device=settings.get("EMBED_DEVICE", "cpu"))
    if backend == "onnx-int8":
        cache = settings.get("EMBED_CACHE_DIR") or Path(settings["DATA_DIR"]) / "models"
        return OnnxEmbedder(name, Path(cache), max_tokens=max_tokens, batch_size=batch)
    raise ValueError(f"unknown EMBED_BACKEND {backend!r}; use one of {', '.join(BACKENDS)}")
