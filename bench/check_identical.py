"""Byte-identity of every example's results between two commits (a move must not change results).

Runs each scenario in ``examples/`` (its own length, seed 1) and the three study files in
``examples/studies/`` (shortened: 0.05 days, 40 cars, at most 4 tuning trials) once with the code of a reference commit
(checked out in a temporary git worktree) and once with the working tree, then compares every file
of every results folder byte for byte, figures included. The only things allowed to differ are
the wall-clock measurements (``summary.json`` keys with ``wall`` in their name and the page's
"wall time" row), which are compared with those removed. ``fleetsim.json`` differs only if the
version does.

    python bench/check_identical.py [--ref HEAD] [--only NAME ...] [--keep DIR]

Exits 1 and lists the files that differ; prints the number of files compared otherwise. It needs
the scenarios' shared data (``../shared/data``) for the Azure replay; without it, that example is
skipped on both sides.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def jobs(only: list[str]) -> list[tuple[str, list[str]]]:
    """(name, fleetsim arguments before --out) of every example to run."""
    out = []
    for path in sorted((ROOT / "examples").glob("*.toml")):
        if path.name == "azure_replay.toml" and not SHARED.is_dir():
            continue
        out.append((path.stem, ["run", str(path), "--seed", "1", "--no-progress"]))
    for path in sorted((ROOT / "examples" / "studies").glob("*.toml")):
        kind = "tune" if path.stem.startswith("tune") else "sweep"
        out.append((f"studies_{path.stem}", [kind, str(path), "--no-progress"]))
    return [j for j in out if not only or j[0] in only]


def study_file(args: list[str], tmp: Path) -> list[str]:
    """A study file shortened (0.05 days, 40 cars, at most 4 trials) so the check takes minutes."""
    if args[0] == "run":
        return args
    import tomllib

    import tomli_w
    src = Path(args[1])
    doc = tomllib.loads(src.read_text())
    head = doc["sweep" if "sweep" in doc else "tune"]
    head["scenario"] = str((src.parent / head["scenario"]).resolve())
    if "trials" in head:
        head["trials"] = min(head["trials"], 4)
    doc.setdefault("set", {}).update({"run.days": 0.05, "fleet.vehicles": 40})
    short = tmp / src.name
    short.write_text(tomli_w.dumps(doc))
    return [args[0], str(short), *args[2:]]


def run_all(code: Path, out: Path, selected: list[tuple[str, list[str]]], tmp: Path) -> None:
    """Run every selected example with the package found at ``code`` into ``out``/NAME."""
    env = {**os.environ, "PYTHONPATH": str(code), "PYTHONHASHSEED": "0", "MPLBACKEND": "Agg"}
    probe = subprocess.run([sys.executable, "-c", "import sim; print(sim.__file__)"], env=env, cwd=code,
                           capture_output=True, text=True, check=True).stdout.strip()
    if not probe.startswith(str(code)):
        sys.exit(f"check_identical: {code} is not the imported sim ({probe})")
    for name, args in selected:
        cmd = [sys.executable, "-m", "sim.cli", *study_file(args, tmp), "--out", str(out / name)]
        proc = subprocess.run(cmd, env=env, cwd=code, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"check_identical: {' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")


def _without_wall_clock(path: Path) -> bytes:
    """The file's bytes, less what measures wall-clock time (it differs between any two runs)."""
    if path.name == "summary.json":
        def drop(node):
            if isinstance(node, dict):
                return {k: drop(v) for k, v in node.items() if "wall" not in k}
            return node
        return json.dumps(drop(json.loads(path.read_text())), indent=1).encode()
    if path.suffix == ".html":
        return b"\n".join(ln for ln in path.read_bytes().split(b"\n") if b">wall time<" not in ln)
    return path.read_bytes()


def same(a: Path, b: Path) -> bool:
    """Whether two results files agree byte for byte, wall-clock measurements aside."""
    if filecmp.cmp(a, b, shallow=False):
        return True
    return a.name in ("summary.json", "report.html") and _without_wall_clock(a) == _without_wall_clock(b)


def compare(a: Path, b: Path) -> tuple[int, list[str]]:
    """(files compared, relative paths that differ or exist on one side only)."""
    fa = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    fb = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    diff = sorted(str(p) + " (one side only)" for p in fa ^ fb)
    diff += sorted(str(p) for p in fa & fb if not same(a / p, b / p))
    return len(fa & fb), diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", default="HEAD", help="reference commit (default HEAD)")
    ap.add_argument("--only", nargs="*", default=[], help="example names (file stems) to run")
    ap.add_argument("--keep", type=Path, help="keep both sides' folders under DIR")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("REF", "NEW"),
                    help="only compare two folders kept earlier with --keep")
    args = ap.parse_args()
    if args.compare:
        n, diff = compare(*args.compare)
        print(f"{n} files compared, {len(diff)} differ" + "".join(f"\n  {d}" for d in diff))
        sys.exit(1 if diff else 0)
    selected = jobs(args.only)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(args.keep) if args.keep else Path(td)
        tmp.mkdir(parents=True, exist_ok=True)
        tree = tmp / "ref-tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), args.ref],
                       check=True, capture_output=True)
        try:
            run_all(tree, tmp / "ref", selected, tmp)
            run_all(ROOT, tmp / "new", selected, tmp)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
        n, diff = compare(tmp / "ref", tmp / "new")
    if diff:
        print(f"{len(diff)} of {n} files differ from {args.ref}:\n  " + "\n  ".join(diff))
        sys.exit(1)
    print(f"{n} files in {len(selected)} results folders byte-identical to {args.ref}")


if __name__ == "__main__":
    main()
