"""Extract a few named members of the corpus tarballs into a folder tree (for tests on real pages)."""

from __future__ import annotations

import tarfile
from collections.abc import Iterable
from pathlib import Path

ARCHIVES = {"windows-driver-docs-pr/": "windows-driver-docs.tar.gz", "wdk-ddi-src/": "windows-driver-docs-ddi.tar.gz"}


def extract(corpus: Path, dest: Path, members: Iterable[str], prefixes: Iterable[str] = ()) -> list[Path]:
    """Copy the named members (and every member under ``prefixes``) into ``dest``, keeping their paths.

    Returns:
        The tree roots created under ``dest`` (``windows-driver-docs-pr``, ``wdk-ddi-src``).
    """
    wanted = set(members)
    prefixes = tuple(prefixes)
    roots = []
    for root, archive in ARCHIVES.items():
        names = {m for m in wanted if m.startswith(root)}
        pre = tuple(p for p in prefixes if p.startswith(root))
        if not names and not pre:
            continue
        with tarfile.open(corpus / archive, "r:gz") as tar:
            for member in tar:
                if member.isfile() and (member.name in names or member.name.startswith(pre)):
                    target = dest / member.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())
        roots.append(dest / root.rstrip("/"))
    return roots
