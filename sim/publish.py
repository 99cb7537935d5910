"""Write a folder atomically: fill a temporary sibling, then rename it into place."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def publish_folder(out: Path, fill: Callable[[Path], None]) -> Path:
    """Call ``fill(tmp)`` on a new temporary sibling of ``out``, then rename it to ``out``.

    An earlier folder at ``out`` is replaced. On any error the temporary folder is removed and
    ``out`` is left as it was: nothing is ever half-written.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        fill(tmp)
        os.chmod(tmp, 0o755)
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, trash / out.name)
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
