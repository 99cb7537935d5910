"""Shared by every test folder: puts ``tests/`` on ``sys.path`` so that the helper modules kept here
(``hand_values``, ``mmc``, ``planners``) import by their plain names from any layer's folder, and
the repository root before it.

The root is needed because ``tests/`` holds folders named like the packages (``grid``, ``fleet``,
``reports``): with ``tests/`` on the path and the packages reachable only through an editable
install's import hook (which Python asks last), ``import reports`` would find the test folder as
a namespace package. A regular package on the path always wins over such a folder.

The test folders (kernel, grid, fleet, model, studies, reports, cli, project) have no
``__init__.py``: pytest's default "prepend" import mode imports each test file as a top-level
module named after its file, so test file names must stay unique across the folders.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
ROOT = str(Path(__file__).resolve().parents[1])
for path in (HERE, ROOT):  # ROOT ends up first
    if path not in sys.path:
        sys.path.insert(0, path)
