"""The generated blocks of ``docs/``: the scenario keys, the command-line help and the results reference.

``docs/scenario.md`` holds ``sim.schema.reference_markdown()``, ``docs/cli.md`` the help of
every command of ``sim.cli.build_parser()`` and ``docs/results.md``
``sim.results.catalog.reference_markdown()`` (every summary key and table column), each between a
pair of HTML comment markers; the prose around the markers is written by hand and left as it is.

``python -m sim.docgen`` rewrites the blocks; ``python -m sim.docgen --check`` writes nothing,
lists the stale files and exits with status 1 if there are any.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

#: width of the generated command-line help, in characters (independent of the terminal)
HELP_WIDTH = 100
#: the repository root, where ``docs/`` lives
ROOT = Path(__file__).resolve().parents[1]


def scenario_reference() -> str:
    """The scenario key tables (Markdown), one per top-level table of the schema."""
    from sim.schema import reference_markdown

    return reference_markdown().strip() + "\n"


def _commands(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """``(name, parser)`` of the main parser and each subcommand, in the parser's order."""
    found = [("fleetsim", parser)]
    seen = {id(parser)}
    # argparse lists its actions only in ``_actions``; the subparsers action is the one whose
    # choices map command names to parsers
    for action in parser._actions:
        choices = action.choices if isinstance(action.choices, dict) else {}
        for name, sub in choices.items():
            if isinstance(sub, argparse.ArgumentParser) and id(sub) not in seen:  # aliases: listed once
                seen.add(id(sub))
                found.append((f"fleetsim {name}", sub))
    return found


def _fixed_width(parser: argparse.ArgumentParser, prog: str) -> None:
    """Make ``parser``'s help the same on every terminal: fixed prog, width and no colour."""
    parser.prog = prog
    formatter = parser.formatter_class
    parser.formatter_class = lambda prog, formatter=formatter: formatter(prog, width=HELP_WIDTH)
    if hasattr(parser, "color"):  # Python 3.14 colours help on a terminal
        parser.color = False


def cli_reference() -> str:
    """The ``--help`` of ``fleetsim`` and of each subcommand (Markdown: a heading and a code block each)."""
    from sim.cli import build_parser

    parts = []
    for name, parser in _commands(build_parser()):
        _fixed_width(parser, name)
        text = "\n".join(line.rstrip() for line in parser.format_help().strip().splitlines())
        parts.append(f"### `{name}`\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


def results_reference() -> str:
    """Every key of ``summary.json`` and every column of the results tables, with unit and meaning (Markdown)."""
    from sim.results.catalog import reference_markdown

    return reference_markdown().strip() + "\n"


#: generated file (relative to the root) -> (marker name, generator)
BLOCKS: dict[str, tuple[str, Callable[[], str]]] = {
    "docs/scenario.md": ("scenario-reference", scenario_reference),
    "docs/cli.md": ("cli-reference", cli_reference),
    "docs/results.md": ("results-reference", results_reference),
}


def replace_block(text: str, marker: str, body: str, where: str = "text") -> str:
    """``text`` with what lies between ``<!-- marker:start -->`` and ``<!-- marker:end -->`` replaced by ``body``."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if text.count(start) != 1 or text.count(end) != 1 or text.index(start) > text.index(end):
        raise ValueError(f"{where}: needs one {start} followed by one {end}")
    head, rest = text.split(start)
    _, tail = rest.split(end)
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"


def _write(path: Path, text: str) -> None:
    """Replace ``path``'s contents with ``text`` through a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sync(root: Path, check: bool) -> list[str]:
    """Regenerate the marked blocks of ``root/docs``; return the files that were (or, with ``check``, are) stale.

    With ``check`` nothing is written. Only regular files under ``root/docs`` are ever written.
    """
    docs = Path(root).resolve() / "docs"
    stale = []
    for rel, (marker, generate) in BLOCKS.items():
        path = Path(root) / rel
        if path.is_symlink() or not path.is_file() or not path.resolve().is_relative_to(docs):
            raise ValueError(f"{rel}: not a regular file under {docs}")
        text = path.read_text(encoding="utf-8")
        new = replace_block(text, marker, generate(), where=rel)
        if new != text:
            stale.append(rel)
            if not check:
                _write(path.resolve(), new)
    return stale


def main(argv: list[str] | None = None) -> int:
    """``python -m sim.docgen [--check] [--root DIR]``: 0 when up to date, 1 when ``--check`` finds stale files."""
    parser = argparse.ArgumentParser(prog="python -m sim.docgen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 listing the stale files")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        stale = sync(args.root, check=args.check)
    except (OSError, ValueError) as exc:
        print(f"docgen: error: {exc}", file=sys.stderr)
        return 2
    for rel in stale:
        print(f"{'stale' if args.check else 'updated'}: {rel}")
    if args.check and stale:
        print("run: python -m sim.docgen", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
