"""Learning paths: content shape, loader errors, and (with the corpus) that every ref, sample and script resolves."""

from __future__ import annotations

import gzip
import json
import re
import tarfile
from pathlib import Path

import pytest
import yaml
from conftest import DATA
from conftest import ROOT

from kb.errors import NotFound
from kb.errors import ParseError
from kb.glossary import load_glossary
from kb.paths import get_path
from kb.paths import load_paths
from kb.paths import parse_path
from kb.paths import references

FIXTURES = DATA / "paths"
SCRIPTS = ROOT / "data" / "scripts"
# Script ids the paths name but data/scripts/ does not hold yet; drop an id here once its script exists.
PENDING_SCRIPTS: set[str] = set()  # every script a path names exists in data/scripts
REQUIRED_TITLES = [
    "Your first KMDF driver", "Kernel debugging with WinDbg", "IRQL, synchronization and memory",
    "PnP and power management", "USB client drivers", "NDIS and networking drivers",
    "Storage and file system filters", "Install, INF and signing",
]
DDI_ANCHORS = {"overview", "irql", "requirements"}


@pytest.fixture(scope="module")
def paths():
    return load_paths()


def _script_ids() -> set[str]:
    return {f.stem for f in SCRIPTS.iterdir() if f.is_file()} if SCRIPTS.is_dir() else set()


# --- the real paths -------------------------------------------------------------------------------------------


def test_at_least_eight_paths_including_the_required_ones(paths):
    assert len(paths) >= 8
    titles = {p.title for p in paths}
    assert set(REQUIRED_TITLES) <= titles


def test_paths_are_ordered_and_ids_unique(paths):
    assert [p.order for p in paths] == sorted(p.order for p in paths)
    assert len({p.id for p in paths}) == len(paths)


def test_every_step_is_complete(paths):
    for path in paths:
        assert 8 <= len(path.steps) <= 15, path.id
        assert path.summary and path.level in {"beginner", "intermediate", "advanced"} and path.topics
        for step in path.steps:
            for field in ("id", "title", "learn", "why", "sample", "script", "check", "check_answer"):
                assert getattr(step, field).strip(), (path.id, step.id, field)
            assert 1 <= len(step.entries) <= 3, (path.id, step.id)
            assert step.check.endswith("?"), (path.id, step.id)


def test_topics_are_in_the_taxonomy(paths):
    data = yaml.safe_load((ROOT / "data" / "topics.yml").read_text(encoding="utf-8"))
    known = {t["id"] for t in data["topics"]}
    for path in paths:
        assert set(path.topics) <= known, path.id


def test_scripts_exist_or_are_listed_as_pending(paths):
    known = _script_ids() | PENDING_SCRIPTS
    for path in paths:
        for step in path.steps:
            assert step.script in known, f"{path.id}/{step.id}: no data/scripts/{step.script}.*"


def test_refs_are_well_formed(paths):
    for path in paths:
        for step in path.steps:
            for ref in step.entries:
                assert re.fullmatch(r"(windows-driver-docs-pr|wdk-ddi-src/content)/[^#\s]+\.md#[\w-]+", ref), ref


def test_get_path_and_step(paths):
    first = paths[0]
    assert get_path(first.id) == first
    assert first.step(first.steps[0].id) == first.steps[0]
    with pytest.raises(NotFound, match="known paths"):
        get_path("no-such-path")
    with pytest.raises(NotFound, match="no step"):
        first.step("no-such-step")


def test_references_list_refs_samples_and_scripts(paths):
    refs = references()
    steps = sum(len(p.steps) for p in paths)
    kinds = [kind for _, kind, _ in refs]
    assert kinds.count("sample") == kinds.count("script") == steps
    assert kinds.count("ref") == sum(len(s.entries) for p in paths for s in p.steps)
    where, kind, value = refs[0]
    assert where == f"data/paths/{paths[0].source}#{paths[0].steps[0].id}" and kind == "ref" and "#" in value


# --- loader on fixtures ---------------------------------------------------------------------------------------


def test_fixture_folder_loads_in_order():
    loaded = load_paths(FIXTURES)
    assert [p.id for p in loaded] == ["other-path", "tiny-path"]
    assert loaded[1].steps[0].entries == ("windows-driver-docs-pr/kernel/device-tree.md#device-tree",)


def _good() -> dict:
    return yaml.safe_load((FIXTURES / "good.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["steps"][1].pop("why"), "bad.yml step 2 (step-2): `why` is missing"),
        (lambda d: d["steps"][2].update(entries=[]), "bad.yml step 3 (step-3): `entries` needs at least one"),
        (lambda d: d["steps"][2].update(entries=["a.md"]), "must look like `<source path>#<anchor>`"),
        (lambda d: d["steps"][2].update(entries=["a.md#1", "a.md#2", "a.md#3", "a.md#4"]), "keep the best 3"),
        (lambda d: d["steps"][0].update(script="Not An Id"), "bad.yml step 1 (step-1): `script`"),
        (lambda d: d["steps"][3].update(id="step-1"), "bad.yml step 4: step id 'step-1' is used twice"),
        (lambda d: d["steps"][4].update(id=None), "bad.yml step 5: `id`"),
        (lambda d: d.update(steps=d["steps"][:7]), "needs 8 to 15 steps, got 7"),
        (lambda d: d.update(order="1"), "`order` must be an integer"),
        (lambda d: d.update(level="expert"), "`level` must be one of"),
        (lambda d: d.pop("title"), "bad.yml: `title` is missing"),
    ],
)
def test_bad_path_files_raise_parse_error_naming_file_and_step(change, message):
    data = _good()
    change(data)
    with pytest.raises(ParseError) as err:
        parse_path(yaml.safe_dump(data, sort_keys=False), source="bad.yml")
    assert message in str(err.value)


@pytest.mark.parametrize("text", ["id: [unclosed", "- a list", ""])
def test_malformed_path_documents_raise_parse_error(text):
    with pytest.raises(ParseError):
        parse_path(text, source="bad.yml")


def test_duplicate_path_ids_across_files_are_rejected(tmp_path):
    for name in ("a.yml", "b.yml"):
        (tmp_path / name).write_text((FIXTURES / "good.yml").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ParseError, match="also used by a.yml"):
        load_paths(tmp_path)


def test_edited_folder_is_reloaded(tmp_path):
    (tmp_path / "a.yml").write_text((FIXTURES / "good.yml").read_text(encoding="utf-8"), encoding="utf-8")
    assert [p.id for p in load_paths(tmp_path)] == ["tiny-path"]
    (tmp_path / "b.yml").write_text((FIXTURES / "other.yml").read_text(encoding="utf-8"), encoding="utf-8")
    assert [p.id for p in load_paths(tmp_path)] == ["other-path", "tiny-path"]


# --- against the corpus ---------------------------------------------------------------------------------------

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _github_slug(heading: str) -> str:
    text = re.sub(r"<[^>]+>", "", heading)  # <span id=...></span> anchors and other inline HTML
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def heading_slugs(markdown: str) -> set[str]:
    """GitHub anchors of every heading outside code fences, with -1, -2 suffixes for repeats."""
    body = re.sub(r"\A---\n.*?\n---\n", "", markdown, flags=re.S)
    slugs: set[str] = set()
    seen: dict[str, int] = {}
    in_fence = False
    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        m = None if in_fence else _HEADING.match(line)
        if m:
            slug = _github_slug(m.group(2))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            slugs.add(f"{slug}-{n}" if n else slug)
    return slugs


def _all_refs() -> list[tuple[str, str]]:
    refs = [(f"glossary:{t.slug}", ref) for t in load_glossary().terms for ref in t.see]
    refs += [(f"path:{p.id}/{s.id}", ref) for p in load_paths() for s in p.steps for ref in s.entries]
    return refs


@pytest.fixture(scope="module")
def corpus_files(corpus: Path) -> dict[str, str]:
    """The text of every file the glossary and the paths refer to, read from the corpus tarballs."""
    wanted = {ref.partition("#")[0] for _, ref in _all_refs()}
    found: dict[str, str] = {}
    for archive in ("windows-driver-docs.tar.gz", "windows-driver-docs-ddi.tar.gz"):
        with tarfile.open(corpus / archive, "r:gz") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if name in wanted and member.isfile():
                    found[name] = tar.extractfile(member).read().decode("utf-8-sig", errors="replace")
    return found


@pytest.mark.corpus
def test_every_ref_names_a_real_file_and_heading(corpus_files):
    problems = []
    for where, ref in _all_refs():
        path, _, anchor = ref.partition("#")
        text = corpus_files.get(path)
        if text is None:
            problems.append(f"{where}: {path} is not in the corpus")
        elif path.startswith("wdk-ddi-src/"):
            if anchor not in DDI_ANCHORS or (anchor == "irql" and not re.search(r"^req\.irql:\s*\S", text, re.M)):
                problems.append(f"{where}: {ref} is not an API reference pair (overview, irql, requirements)")
        elif anchor not in heading_slugs(text):
            problems.append(f"{where}: {ref} is not a heading anchor of {path}")
    assert not problems, "\n".join(problems)


@pytest.mark.corpus
def test_every_sample_is_in_the_catalog(corpus):
    with gzip.open(corpus / "driver-samples.json.gz", "rt", encoding="utf-8") as fh:
        catalog = {s["path"] for s in json.load(fh)["samples"]}
    missing = [(p.id, s.id, s.sample) for p in load_paths() for s in p.steps if s.sample not in catalog]
    assert not missing


def test_heading_slugs_follow_github_rules():
    text = ("---\ntitle: x\n---\n# I/O Stack Locations\n## <span id=\"a\"></span>Using `IoCallDriver`\n"
            "```\n# not\n```\n## Notes\n## Notes\n")
    assert heading_slugs(text) == {"io-stack-locations", "using-iocalldriver", "notes", "notes-1"}
