"""The documentation stays true: generated references match the code, links resolve, the README's
quick start is CI's command and the README stays a short guide."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from sim.docgen import BLOCKS, cli_reference, replace_block, scenario_reference, sync

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted((ROOT / "docs").glob("*.md"))
QUICK_START = "pip install -e . && fleetsim run"
TEST_COMMAND = "pip install -e '.[test]' && pytest"
README_MAX_LINES = 230

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _links(text: str) -> list[str]:
    """Targets of the inline links of a Markdown text, outside code blocks and code spans."""
    text = _FENCE.sub("", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    return _LINK.findall(text)


def _anchors(path: Path) -> set[str]:
    """The heading anchors of a Markdown file, as GitHub makes them."""
    text = _FENCE.sub("", path.read_text())
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_generated_blocks_are_in_sync():
    stale = sync(ROOT, check=True)
    assert stale == [], f"{', '.join(stale)} out of date with the code: run `python -m sim.docgen`"


def test_generated_blocks_hold_every_key_and_command():
    from sim.schema import KEYS

    scenario = scenario_reference()
    assert all(f"`{k.path}`" in scenario for k in KEYS)
    cli = cli_reference()
    for command in ("fleetsim", "fleetsim run", "fleetsim check", "fleetsim report", "fleetsim policies",
                    "fleetsim sweep", "fleetsim tune"):
        assert f"### `{command}`\n" in cli and f"usage: {command} [-h]" in cli
    assert cli_reference() == cli  # deterministic


def test_sync_rewrites_only_the_marked_blocks(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    path = tmp_path / "docs" / "cli.md"
    fresh = path.read_text()
    path.write_text(replace_block(fresh, BLOCKS["docs/cli.md"][0], "stale"))
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert sync(tmp_path, check=True) == ["docs/cli.md"]
    assert "stale" in path.read_text()  # --check writes nothing
    assert sync(tmp_path, check=False) == ["docs/cli.md"]
    assert path.read_text() == fresh
    assert sync(tmp_path, check=True) == []
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # no file added elsewhere


def test_sync_refuses_a_file_without_markers(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "docs" / "scenario.md").write_text("# Scenario reference\n")
    with pytest.raises(ValueError, match="scenario-reference:start"):
        sync(tmp_path, check=True)


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert TEST_COMMAND in readme and TEST_COMMAND in ci
    assert QUICK_START in readme


def test_readme_is_a_short_guide():
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move reference text into docs/"


@pytest.mark.parametrize("path", [ROOT / "README.md", *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    broken = []
    for target in _links(path.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert broken == [], f"{path.relative_to(ROOT)}: broken links {broken}"


def test_docs_pages_exist():
    names = {p.name for p in DOCS}
    assert {"cli.md", "model.md", "policies.md", "results.md", "scenario.md", "studies.md"} <= names
    readme = (ROOT / "README.md").read_text()
    assert all(f"(docs/{name})" in readme for name in names), "README.md must link every docs/ page"
