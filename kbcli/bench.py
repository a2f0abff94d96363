"""`kb bench`: the benchmark command (register with ``cli.add_command(bench)``)."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from kbcli.main import data_dir_option
from kbcli.main import json_option
from kbcli.main import kb_errors
from kbcli.main import load_settings


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _levels(rows: list[dict[str, Any]]) -> list[str]:
    return [f"  {r['clients']:>3} clients: p50 {_fmt(r['latency_ms']['p50'])} ms, "
            f"p95 {_fmt(r['latency_ms']['p95'])} ms, p99 {_fmt(r['latency_ms']['p99'])} ms, {r['qps']} qps, "
            f"{r['ok']}/{r['requests']} ok, "
            f"{r['errors']} errors" + (f" {r['error_kinds']}" if r["errors"] else "") for r in rows]


def format_report(report: dict[str, Any]) -> str:
    """The report as a plain-text table, phase by phase (errors shown where the numbers would be)."""
    m = report["machine"]
    lines = [f"machine: {m['cpu']}, {m['cores_available']}/{m['cores']} cores, {m['ram_gb']} GB, python {m['python']}, "
             f"load {m['load_avg']}",
             "versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v),
             f"embedder: {report['embedder']} (reference {report['reference']})"]
    for name in ("ingest", "build", "embed", "size", "reingest", "quality", "http", "baseline", "ann"):
        part = report.get(name)
        if part is None:
            continue
        if "error" in part or "skipped" in part:
            lines.append(f"{name}: {part.get('error') or 'skipped: ' + part['skipped']}")
            continue
        if name == "ingest":
            lines.append(f"ingest: {part['files_seen']} files, {part['pairs']} pairs in {part['seconds']} s "
                         f"(parse {part['parse_seconds']} s, read/store/link {part['store_seconds']} s), "
                         f"{part['pairs_per_s']} pairs/s, {part['problems']} skipped")
        elif name == "build":
            lines.append(f"build: embedded {part['embedded']} pairs in {part['embed_seconds']} s "
                         f"({_fmt(part['pairs_per_s'])} pairs/s, {_fmt(part['tokens_per_s'])} tokens/s), "
                         f"index {part['index_seconds']} s")
        elif name == "embed":
            b, r = part["backend"], part["reference"]
            lines.append(f"embed ({part['texts']} texts, {_fmt(part['tokens'])} tokens): {b['name']} "
                         f"{b['pairs_per_s']} pairs/s ({_fmt(b['tokens_per_s'])} tok/s, query {b['query_ms']} ms) "
                         f"vs fp32 {r['pairs_per_s']} pairs/s (query {r['query_ms']} ms): x{part['speedup']}, "
                         f"cosine mean {part['cosine']['mean']} min {part['cosine']['min']}")
            if "plain" in part:
                lines.append(f"  vs fp32 encode as shipped ({part['plain']['max_tokens']} tokens, batch 32): "
                             f"{part['plain']['pairs_per_s']} pairs/s: x{part['speedup_vs_plain']}")
        elif name == "size":
            lines.append("data dir: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in part.items()))
        elif name == "reingest":
            for label, r in part.items():
                lines.append(f"re-ingest {label}: " + ("skipped: " + r["skipped"] if "skipped" in r else
                             f"{r['seconds']} s, parsed {r['parsed']}, re-embedded {r['embedded']}"))
        elif name == "quality":
            lines.append(f"dev set: {part['questions']} questions (gold absent: {part['gold_absent']})")
            for label in ("backend", "reference"):
                for mode, metrics in part.get(label, {}).items():
                    lines.append(f"  {label:<9} {mode:<8} MRR@10 {metrics['mrr@10']:.3f}  recall@10 "
                                 f"{metrics['recall@10']:.3f}")
            if part.get("reference_pool_per_query"):
                lines.append(f"  fp32 reference over {part['reference_pairs']} pairs (top "
                             f"{part['reference_pool_per_query']} dense hits per question + gold pages)")
            if "mrr_delta" in part:
                lines.append(f"  MRR@10 delta (backend - fp32): {part['mrr_delta']}")
        elif name == "http":
            lines.append(f"http /api/search (kb serve, warm-up {part['warmup_ms']} ms, RSS {part['rss_mb']} MB, "
                         f"peak {part['peak_rss_mb']} MB, same results as in-process: {part['matches_in_process']})")
            lines += _levels(part["levels"])
            if not part["matches_in_process"]:
                lines.append("  WARNING: the server's results differ from in-process ones: it does not search with the "
                             "measured embedder (is EMBED_BACKEND wired into kb.embed.load_embedder?)")
        elif name == "baseline":
            lines.append(f"naive baseline (fp32 encode + IndexFlatIP over {part['vectors']} vectors, in-process)")
            lines += _levels(part["levels"])
        elif name == "ann":
            lines.append(f"ANN vs exact ({part['vectors']} vectors, {part['queries']} queries):")
            lines += [f"  {v['name']:<24} recall@10 {_fmt(v['recall@10'])}  recall@100 {_fmt(v['recall@100'])}  "
                      f"query {v['query_ms']} ms  build {v['build_s']} s  {v['mb']} MB" for v in part["variants"]]
    return "\n".join(lines)


@click.command()
@click.option("--sources", "sources", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Sources to ingest (repeatable; default: the shared corpus in KB_CORPUS_DIR).")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="Ingest only the first N files of each folder or archive (plus the dev set's gold pages).")
@click.option("--reuse", is_flag=True, help="Measure the KB already built in --data-dir; skip ingest and re-ingest.")
@click.option("--backend", type=click.Choice(["torch", "onnx-int8"]), default=None,
              help="Embedding backend to measure (default: EMBED_BACKEND).")
@click.option("--sample", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Pair texts embedded by both the backend and fp32 PyTorch for the throughput comparison.")
@click.option("--requests", "per_client", type=click.IntRange(min=1), default=25, show_default=True,
              help="Search requests per client at each concurrency level (1, 4, 16 clients).")
@click.option("--skip-reference-mrr", is_flag=True, help="Do not embed the KB in fp32 for the reference MRR.")
@click.option("--reference-pool", type=click.IntRange(min=0), default=300, show_default=True,
              help="fp32 reference embeds each dev question's top N dense hits and the gold pages' pairs "
                   "instead of every pair; 0 embeds every pair (about 45 min on the full corpus, 2 cores).")
@click.option("--devset", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Dev-set YAML (default data/eval/devset.yml).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON report path (default bench-results/bench-<date>.json).")
@click.option("--keep", is_flag=True, help="Keep the work folder (staged sources, fresh data dir, server log).")
@json_option
@data_dir_option
@kb_errors
def bench(sources: tuple[Path, ...], limit: int | None, reuse: bool, backend: str | None, sample: int, per_client: int,
          skip_reference_mrr: bool, reference_pool: int, devset: Path | None, out: Path | None, keep: bool,
          as_json: bool, data_dir: Path | None) -> None:
    """Measure ingest, embedding (backend vs fp32), index, re-ingest, dev-set MRR, HTTP search latency and ANN options.

    Builds a fresh KB in a temporary folder (or --data-dir, which must be empty) unless --reuse is given.
    The server runs on 127.0.0.1 only and is always stopped. Exit status 1 when a phase failed.

    Example: kb bench --limit 300
    """
    from kb import bench as kb_bench
    from kb.embed_onnx import load_embedder_for
    from kb.eval import DEVSET

    settings = load_settings()
    if backend:
        settings["EMBED_BACKEND"] = backend
    settings.setdefault("EMBED_BACKEND", os.environ.get("KB_EMBED_BACKEND") or "torch")
    if reuse and not (data_dir and (data_dir / "kb.sqlite").exists()):
        raise click.UsageError(f"--reuse needs a built KB: no kb.sqlite in {data_dir} (pass --data-dir)")
    if not reuse and data_dir and data_dir.exists() and any(data_dir.iterdir()):
        raise click.UsageError(f"{data_dir} is not empty: give an empty --data-dir, or --reuse to measure the KB in it")
    bench_sources = list(sources) or kb_bench.default_sources(Path(settings["CORPUS_DIR"]))
    missing = [str(p) for p in bench_sources if not p.exists()]
    if missing and not reuse:
        raise click.UsageError(f"sources not found: {', '.join(missing)} (set KB_CORPUS_DIR or pass --sources)")
    machine = kb_bench.machine_info()
    load = machine["load_avg"][0]
    if load > 0.5 * machine["cores_available"]:
        click.echo(f"warning: load average {load} before the run: another job (kb ingest?) will skew the numbers",
                   err=True)
    work = Path(tempfile.mkdtemp(prefix="kb-bench-"))
    try:
        target = data_dir or work / "data"
        settings["DATA_DIR"] = str(target)
        options = kb_bench.BenchOptions(
            sources=bench_sources, work_dir=work, data_dir=target, settings=settings, reuse=reuse, limit=limit,
            sample=sample, skip_reference_mrr=skip_reference_mrr, reference_pool=reference_pool,
            devset=devset or DEVSET, per_client=per_client)
        embedder = load_embedder_for(settings)
        # The references are plain `SentenceTransformer.encode` in fp32 PyTorch with its default batch size (32):
        # one at our max length (same texts, same truncation: the quantisation's own effect), one as shipped.
        plain_settings = {**settings, "EMBED_BACKEND": "torch", "EMBED_BATCH": 32}
        reference = embedder if settings["EMBED_BACKEND"] == "torch" else load_embedder_for(plain_settings)
        plain = load_embedder_for({**plain_settings, "EMBED_MAX_TOKENS": 0})
        shipped_tokens = getattr(plain, "max_tokens", None)
        if shipped_tokens is not None and shipped_tokens == getattr(reference, "max_tokens", None):
            plain = None  # the reference already is the model as shipped
        report = kb_bench.run(options, embedder, reference,
                              progress=lambda phase: click.echo(f"[{time.strftime('%H:%M:%S')}] {phase}", err=True),
                              plain=plain)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    out = out or Path("bench-results") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    click.echo(json.dumps(report, indent=2) if as_json else format_report(report))
    click.echo(f"report: {out}" + (f"; work folder kept: {work}" if keep else ""), err=True)
    if report["errors"]:
        raise click.ClickException(f"phases failed: {', '.join(report['errors'])} (see the report)")
