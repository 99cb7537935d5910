"""Shared by every test folder: puts ``tests/`` on ``sys.path`` so that the helper modules kept here
(``hand_values``, ``mmc``, ``planners``) import by their plain names from any layer's folder.

The test folders (kernel, grid, fleet, model, studies, reports, cli, project) have no
``__init__.py``: pytest's default "prepend" import mode imports each test file as a top-level
module named after its file, so test file names must stay unique across the folders.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
