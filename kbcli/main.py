"""`kb` commands. Each one parses options and calls the library; errors become ClickExceptions with a fix."""

from __future__ import annotations

import functools
import html
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from kb import __version__
from kb import settings as kb_settings
from kb.errors import KBError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
EXIT_SKIPPED = 3  # `kb ingest` finished, but some files were skipped (see the summary / --report)


def data_dir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The shared --data-dir option (KB_DATA_DIR)."""
    return click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Folder holding the KB (default: KB_DATA_DIR or ./kb-data).")(func)


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """The shared --json flag."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def kb_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn domain errors into click errors (message and exit status 1, no traceback)."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KBError as exc:
            raise click.ClickException(str(exc)) from exc
    return wrapper


def load_settings(data_dir: Path | None = None, **overrides: Any) -> dict[str, Any]:
    """Settings table + environment + command-line overrides."""
    try:
        return kb_settings.load({"DATA_DIR": str(data_dir) if data_dir else None, **overrides})
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def open_kb(data_dir: Path | None = None, **overrides: Any) -> Any:
    """The KB facade for a command."""
    from kb.app import KB
    return KB(load_settings(data_dir, **overrides))


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="kb")
def cli() -> None:
    """Driver KB: answers for Windows driver developers, from docs, API reference, articles and threads.

    Example: kb ingest data/ && kb search "what IRQL can I call KeSetEvent at"
    """


# -- ingest / index ---------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", default=None, help="Parse every file as this format instead of detecting it.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Write the run summary as JSON here.")
@click.option("--no-index", is_flag=True, help="Only update the store; build the vector index later with `kb index`.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
@data_dir_option
@kb_errors
def ingest(sources: tuple[Path, ...], fmt: str | None, report: Path | None, no_index: bool, quiet: bool,
           data_dir: Path | None) -> None:
    """Ingest folders, files and .tar.gz archives, then update the vector index.

    Unchanged files are skipped by content hash; files gone from a folder or archive lose their pairs.
    Exit status: 0 all ingested, 3 some files skipped (listed), 1 error.

    Example: kb ingest ../shared/corpus/windows-driver-docs.tar.gz ../shared/corpus/seeds
    """
    from tqdm import tqdm

    from kb import pipeline
    from kb.app import KB

    settings = load_settings(data_dir)
    kb = KB(settings)
    bar = tqdm(desc="files", unit=" files", disable=quiet, mininterval=1.0)
    summary = pipeline.run(kb.db, sources, fmt=fmt, progress=lambda _sf: bar.update(1),
                           samples_ref=settings["SAMPLES_REF"])
    bar.close()
    result = summary.as_dict()
    if not no_index:
        ebar = tqdm(desc="embedding", unit=" pairs", disable=quiet, mininterval=1.0)

        def on_progress(done: int, total: int) -> None:
            ebar.total = total
            ebar.n = done
            ebar.refresh()

        from kb import indexer
        result["index"] = indexer.build(kb.db, kb.embedder, kb.index_dir, settings["INDEX_BACKEND"], on_progress)
        ebar.close()
    _print_summary(result)
    if report:
        report.write_text(json.dumps(result, indent=2))
    if summary.problems:
        sys.exit(EXIT_SKIPPED)


def _print_summary(result: dict[str, Any]) -> None:
    click.echo(
        f"files seen {result['files_seen']}: parsed {result['parsed']}, unchanged {result['unchanged']}, "
        f"not sources {result['not_sources']}, skipped {len(result['skipped'])}")
    click.echo(
        f"pairs: added {result['pairs_added']}, updated {result['pairs_updated']}, removed {result['pairs_removed']}, "
        f"unchanged {result['pairs_unchanged']}; open questions {result['open_questions']}; "
        f"samples {result['samples']}; scripts {result['scripts']}; sources removed {result['sources_removed']} "
        f"({result['seconds']:.1f} s)")
    if "index" in result:
        idx = result["index"]
        click.echo(f"index: {idx['count']} vectors ({idx['embedded']} newly embedded in {idx['embed_seconds']} s)")
    for item in result["skipped"]:
        click.echo(f"skipped: {item['path']}: {item['problem']}", err=True)


@cli.command()
@data_dir_option
@kb_errors
def index(data_dir: Path | None) -> None:
    """Rebuild the vector index from the store (embeds only texts not cached yet).

    Example: KB_EMBED_MODEL=/models/bge-small kb index
    """
    from kb import indexer

    kb = open_kb(data_dir)
    meta = indexer.build(kb.db, kb.embedder, kb.index_dir, kb.settings["INDEX_BACKEND"])
    click.echo(f"index: {meta['count']} vectors, model {meta['model']}, {meta['embedded']} newly embedded")


# -- search / read ---------------------------------------------------------------------------------------------------
@cli.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--k", "-k", type=int, default=None, help="How many results (default TOP_K).")
@click.option("--topic", "topics", multiple=True, help="Only pairs with this topic (repeatable).")
@click.option("--kind", "kinds", multiple=True, help="Only pairs from this source kind (repeatable).")
@json_option
@data_dir_option
@kb_errors
def search(query: tuple[str, ...], k: int | None, topics: tuple[str, ...], kinds: tuple[str, ...], as_json: bool,
           data_dir: Path | None) -> None:
    """Search the KB (the same search as the web UI and /api/search).

    Example: kb search "what IRQL can I call KeSetEvent at" --k 5
    """
    kb = open_kb(data_dir)
    result = kb.search(" ".join(query), k=k, topics=topics, kinds=kinds)
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        return
    for i, item in enumerate(result["results"], start=1):
        src = item["source"]
        click.secho(f"{i}. {item['question']}", bold=True)
        # Docs write "IRQL &lt;= DISPATCH_LEVEL" in markdown; a terminal shows text, so entities are decoded.
        snippet = html.unescape(" ".join(item["answer"].split()))[:300]
        click.echo(f"   {snippet}")
        click.echo(f"   [{', '.join(item['topics'])}] {src['title']} — {src['url'] or src['path']}")
    click.echo(f"({len(result['results'])} results, {result['took_ms']} ms)")


@cli.command()
@click.option("--output", "-o", type=click.File("w"), default="-", help="Where to write (default stdout).")
@data_dir_option
@kb_errors
def export(output: Any, data_dir: Path | None) -> None:
    """Write every pair as JSON lines, with the same fields as /api/search results.

    Example: kb export -o pairs.jsonl
    """
    from kb.search import hydrate

    kb = open_kb(data_dir)
    ns = [r[0] for r in kb.db.execute("SELECT n FROM pairs WHERE hidden = 0 ORDER BY source, position")]
    for start in range(0, len(ns), 500):
        chunk = ns[start:start + 500]
        found = hydrate(kb.db, chunk)
        for n in chunk:
            output.write(json.dumps(found[n], ensure_ascii=False) + "\n")


@cli.command()
@json_option
@data_dir_option
@kb_errors
def stats(as_json: bool, data_dir: Path | None) -> None:
    """Counts of sources, pairs, open questions, samples, scripts, and the index state.

    Example: kb stats --json
    """
    result = open_kb(data_dir).stats()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    for key, value in result.items():
        click.echo(f"{key}: {json.dumps(value) if isinstance(value, dict) else value}")


@cli.command(name="open-questions")
@click.option("--limit", type=int, default=100, help="How many to list.")
@json_option
@data_dir_option
@kb_errors
def open_questions(limit: int, as_json: bool, data_dir: Path | None) -> None:
    """List questions nobody answered (from threads) or the bot could not answer confidently.

    Example: kb open-questions --limit 20
    """
    from kb.store import rows

    kb = open_kb(data_dir)
    items = list(rows(kb.db, "SELECT id, source, origin, locator, question, asked_by, created_at FROM open_questions "
                              "ORDER BY source, created_at LIMIT ?", [limit]))
    if as_json:
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    for item in items:
        where = f"{item['source']} {item['locator']}" if item["source"] else item["origin"]
        click.secho(f"- {' '.join(item['question'].split())[:200]}", bold=True)
        click.echo(f"  asked by {item['asked_by'] or 'unknown'} — {where}")
    click.echo(f"({len(items)} open questions)")


# -- quality ---------------------------------------------------------------------------------------------------------
@cli.command(name="eval")
@click.option("--devset", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Dev-set YAML (default data/eval/devset.yml).")
@click.option("--show-misses", is_flag=True, help="List the questions each mode missed in its top 10.")
@json_option
@data_dir_option
@kb_errors
def eval_cmd(devset: Path | None, show_misses: bool, as_json: bool, data_dir: Path | None) -> None:
    """Recall@1/5/10 and MRR@10 of keyword-only, dense-only and hybrid search on the dev set.

    Questions whose gold pages are not in this KB are left out (and counted).

    Example: kb eval --show-misses
    """
    from kb import eval as kb_eval

    kb = open_kb(data_dir)
    present = {r[0] for r in kb.db.execute("SELECT path FROM sources")}
    report = kb_eval.evaluate(kb.search, kb_eval.load_devset(devset), present=present)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(kb_eval.format_report(report))
    if show_misses:
        for mode, misses in report["misses"].items():
            for q in misses:
                click.echo(f"miss [{mode}]: {q}")


@cli.command(name="eval-threads")
@click.option("--thread", "thread_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Thread text (default: seed 003 in KB_CORPUS_DIR).")
@click.option("--gold", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Annotation YAML (default data/eval/threads/<thread name>.yml).")
@click.option("--dev", is_flag=True, help="Score only the annotation's development range of comments.")
@json_option
@kb_errors
def eval_threads(thread_path: Path | None, gold: Path | None, dev: bool, as_json: bool) -> None:
    """Precision, recall and F1 of thread Q&A extraction (pairs, open questions, topics) against our annotation.

    Example: kb eval-threads --dev
    """
    from kb import eval_threads as et
    from kb.settings import PROJECT_ROOT

    settings = load_settings()
    thread_path = thread_path or Path(settings["CORPUS_DIR"]) / "seeds" / "003_c11bf7d89f898402.txt"
    if not thread_path.exists():
        raise click.ClickException(f"{thread_path} not found: pass --thread or set KB_CORPUS_DIR")
    gold = gold or PROJECT_ROOT / "data" / "eval" / "threads" / (thread_path.stem + ".yml")
    comment_range = et.load_gold(gold).dev_range if dev else None
    metrics = et.run(thread_path, gold, comment_range=comment_range)
    click.echo(json.dumps(metrics, indent=2, default=str) if as_json else et.format_report(metrics))


@cli.command(name="eval-links")
@click.option("--annotation", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Hand annotation of the samples a thread names (default data/eval/sample-mentions-003.yml).")
@json_option
@data_dir_option
@kb_errors
def eval_links(annotation: Path | None, as_json: bool, data_dir: Path | None) -> None:
    """How well pairs link to sample drivers: DDI coverage of API-reference pairs and named-sample recall.

    Example: kb eval-links
    """
    from kb import eval_links as el
    from kb.settings import PROJECT_ROOT

    kb = open_kb(data_dir)
    annotation = annotation or PROJECT_ROOT / "data" / "eval" / "sample-mentions-003.yml"
    result = {"ddi_coverage": el.ddi_coverage(kb.db)}
    if annotation.exists():
        result["mentions"] = el.mention_recall(kb.db, annotation)
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    cov = result["ddi_coverage"]
    click.echo(f"API-reference pairs whose DDI a sample calls: {cov['eligible']}; with a file:line sample link: "
               f"{cov['linked']} ({cov['share']})")
    if "mentions" in result:
        men = result["mentions"]
        click.echo(f"samples named in thread comments (annotated): {men['expected']}; linked from their pair: "
                   f"{men['linked']} ({men['share']})")
        for miss in men["missed"]:
            click.echo(f"  missed: comment {miss['comment']} -> {miss['sample']}")


@cli.command(name="check-content")
@json_option
@data_dir_option
@kb_errors
def check_content(as_json: bool, data_dir: Path | None) -> None:
    """Check that every learning-path step, glossary link and handbook citation resolves in this KB.

    Exit status 1 when anything is broken.

    Example: kb check-content
    """
    from kb import content_check

    kb = open_kb(data_dir)
    result = content_check.check(kb.db)
    broken = result["broken"]
    if as_json:
        click.echo(json.dumps({"checked": result["checked"], "by_kind": result["by_kind"],
                               "broken": [b.__dict__ for b in broken]}, indent=2))
    else:
        for b in broken:
            click.echo(f"broken {b.kind}: {b.where} -> {b.ref}: {b.problem}")
        click.echo(f"{result['checked']} references checked ({result['by_kind']}), {len(broken)} broken")
    if broken:
        sys.exit(1)


# -- serve / settings ------------------------------------------------------------------------------------------------
@cli.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1: only this machine can connect).")
@click.option("--port", type=int, default=None, help="Port (default 5000).")
@click.option("--threads", type=int, default=None, help="Worker threads (default THREADS).")
@click.option("--dev", is_flag=True, help="Flask's development server with reloader instead of waitress.")
@data_dir_option
def serve(host: str | None, port: int | None, threads: int | None, dev: bool, data_dir: Path | None) -> None:
    """Serve the web UI, the JSON API and the Slack endpoint (waitress, threads sized by KB_THREADS).

    Example: kb serve --port 8080
    """
    from kb.index import single_threaded_search
    from webapp import create_app
    from webapp import get_kb

    settings = load_settings(data_dir, HOST=host, PORT=port, THREADS=threads)
    app = create_app({"DATA_DIR": settings["DATA_DIR"]})
    single_threaded_search()
    with app.app_context():  # load the model and the index now, not in the first user's request
        try:
            get_kb().search("warm up")
        except KBError as exc:
            click.echo(f"warning: {exc}", err=True)
    click.echo(f"Driver KB on http://{settings['HOST']}:{settings['PORT']}/ (data: {settings['DATA_DIR']})")
    if dev:
        app.run(host=settings["HOST"], port=settings["PORT"], debug=True)
        return
    from waitress import serve as waitress_serve
    waitress_serve(app, host=settings["HOST"], port=settings["PORT"], threads=settings["THREADS"], ident="driver-kb")


@cli.command(name="slack")
@click.option("--socket", is_flag=True, required=True, help="Connect over Socket Mode (SLACK_APP_TOKEN).")
@data_dir_option
@kb_errors
def slack_cmd(socket: bool, data_dir: Path | None) -> None:
    """Run the Slack bot over Socket Mode (no public URL needed; HTTP mode is /slack/events on `kb serve`).

    Example: KB_SLACK_APP_TOKEN=xapp-... KB_SLACK_BOT_TOKEN=xoxb-... kb slack --socket
    """
    from webapp.slack import run_socket_mode

    run_socket_mode(load_settings(data_dir))


@cli.command(name="settings")
@json_option
def settings_cmd(as_json: bool) -> None:
    """Print every setting: name, current value, default and help (set them as KB_<NAME>).

    Example: KB_TOP_K=20 kb settings
    """
    current = {name: kb_settings.shown(name, value) for name, value in load_settings().items()}
    if as_json:
        click.echo(json.dumps([{"name": s.name, "value": current[s.name], "default": s.default, "help": s.help}
                               for s in kb_settings.SETTINGS], indent=2))
        return
    for s in kb_settings.SETTINGS:
        click.echo(f"KB_{s.name} = {current[s.name]!r}\n    {s.help} (default {s.default!r})")


from kbcli.bench import bench  # noqa: E402  the benchmark command lives in its own module

cli.add_command(bench)
