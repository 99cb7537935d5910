"""The layers of DESIGN.md, enforced on the import graph (grimp, the engine of import-linter).

Bottom to top: ``sim.core`` (the kernel) imports only the standard library, simpy and numpy;
``grid`` imports the kernel; ``fleet`` imports grid and the kernel. The model, the studies, the
reports and the command line sit above them.
"""
from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

PACKAGES = ("sim", "fleet", "grid", "reports")
#: layer -> the first-party packages its modules may import (besides the standard library and
#: third-party packages such as numpy)
MAY_IMPORT = {
    "sim.core": ("sim.core",),
    "grid": ("grid", "sim.core"),
    "fleet": ("fleet", "grid", "sim.core"),
}
#: third-party packages the kernel may import
KERNEL_THIRD_PARTY = {"simpy", "numpy"}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(graph: grimp.ImportGraph) -> list[str]:
    """``importer -> imported (line)`` for every import that crosses the layers downwards-only rule."""
    found = []
    for layer, allowed in MAY_IMPORT.items():
        for importer in sorted(m for m in graph.modules if _within(m, layer)):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                first_party = any(_within(imported, p) for p in PACKAGES)
                ok = any(_within(imported, p) for p in allowed)
                top = imported.split(".")[0]
                if layer == "sim.core" and not first_party:
                    ok = top in KERNEL_THIRD_PARTY or top in sys.stdlib_module_names
                elif not first_party:
                    ok = True
                if not ok:
                    lines = graph.get_import_details(importer=importer, imported=imported)
                    where = ", ".join(str(d["line_number"]) for d in lines)
                    found.append(f"{importer} -> {imported} (line {where})")
    return found


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, include_external_packages=True)


def test_every_layer_imports_only_the_layers_below_it(graph):
    assert violations(graph) == []


def test_the_check_fails_on_an_import_from_fleet_in_the_kernel(graph):
    graph.add_import(importer="sim.core.clock", imported="fleet.vehicle", line_number=1, line_contents="x")
    try:
        assert violations(graph) == ["sim.core.clock -> fleet.vehicle (line 1)"]
    finally:
        graph.remove_import(importer="sim.core.clock", imported="fleet.vehicle")


def test_importing_the_kernel_loads_neither_fleet_nor_grid():
    code = "import sys, sim.core.engine, sim.core.clock, sim.core.recorder, sim.core.timers, sim.core.rng, " \
           "sim.core.errors, sim.core.inputs; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "('fleet', 'grid', 'reports', 'pandas', 'matplotlib')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
