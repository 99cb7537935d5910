"""The layers of DESIGN.md, enforced on the import graph (grimp, the engine of import-linter).

Bottom to top: ``sim.core`` (the kernel) imports only the standard library, simpy and numpy;
``grid`` imports the kernel; ``fleet`` imports grid and the kernel; the model (the rest of
``sim``) imports fleet, grid and the kernel; ``sim.studies`` only the model and the kernel;
``reports`` the studies, the model and the kernel, never fleet or grid; the command line sits on
top. Also here: no module outside the kernel reads another owner's private state.
"""
from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

PACKAGES = ("sim", "fleet", "grid", "reports")
#: layer -> the layers its modules may import (besides the standard library and third-party
#: packages such as numpy), bottom to top as in DESIGN.md
MAY_IMPORT = {
    "kernel": ("kernel",),
    "grid": ("grid", "kernel"),
    "fleet": ("fleet", "grid", "kernel"),
    "model": ("model", "fleet", "grid", "kernel"),
    "studies": ("studies", "model", "kernel"),
    "reports": ("reports", "studies", "model", "kernel"),
    "command line": ("command line", "reports", "studies", "model", "fleet", "grid", "kernel"),
}
#: modules on top of everything: the command line and the generator of its reference
TOP = ("sim.cli", "sim.docgen")
#: third-party packages the kernel may import
KERNEL_THIRD_PARTY = {"simpy", "numpy"}


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_of(module: str) -> str | None:
    """The layer of a first-party module (None for a third-party or standard-library one)."""
    if any(_within(module, t) for t in TOP):
        return "command line"
    if _within(module, "sim.core"):
        return "kernel"
    if _within(module, "sim.studies"):
        return "studies"
    if _within(module, "sim"):
        return "model"
    top = module.split(".")[0]
    return top if top in ("grid", "fleet", "reports") else None


def violations(graph: grimp.ImportGraph) -> list[str]:
    """``importer -> imported (line)`` for every import of a layer above the importer's."""
    found = []
    for importer in sorted(m for m in graph.modules if layer_of(m) is not None):
        layer = layer_of(importer)
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            target = layer_of(imported)
            if target is not None:
                ok = target in MAY_IMPORT[layer]
            elif layer == "kernel":
                top = imported.split(".")[0]
                ok = top in KERNEL_THIRD_PARTY or top in sys.stdlib_module_names
            else:
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


@pytest.mark.parametrize("importer, imported", [("sim.studies.stats", "fleet.jobs"),
                                               ("reports.style", "fleet.channels"),
                                               ("sim.runner", "sim.studies.sweep"),
                                               ("sim.results", "reports")])
def test_the_check_fails_on_each_upward_or_sideways_import(graph, importer, imported):
    graph.add_import(importer=importer, imported=imported, line_number=7, line_contents="x")
    try:
        assert f"{importer} -> {imported} (line 7)" in violations(graph)
    finally:
        graph.remove_import(importer=importer, imported=imported)


def test_the_check_fails_on_an_import_from_fleet_in_the_kernel(graph):
    graph.add_import(importer="sim.core.clock", imported="fleet.vehicle", line_number=1, line_contents="x")
    try:
        assert violations(graph) == ["sim.core.clock -> fleet.vehicle (line 1)"]
    finally:
        graph.remove_import(importer="sim.core.clock", imported="fleet.vehicle")


def test_importing_the_kernel_loads_neither_fleet_nor_grid():
    code = "import sys, sim.core.engine, sim.core.clock, sim.core.recorder, sim.core.timers, sim.core.rng, " \
           "sim.core.errors, sim.core.inputs, sim.core.params; " \
           "print(sorted(m for m in sys.modules if m.split('.')[0] in " \
           "('fleet', 'grid', 'reports', 'pandas', 'matplotlib')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---------------------------------------------------------------- owners keep their private state
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
#: ``module: expression`` reads of a leading-underscore attribute of another object that are allowed:
#: the standard library's documented ``os._exit``, and a vehicle calling its own class's private
#: methods on another vehicle of the same site, a signal its own class's helper.
PRIVATE_ALLOWED = {
    "sim/studies/executors.py: os._exit",
    "fleet/vehicle.py: m._settle", "fleet/vehicle.py: m._leave_stall", "fleet/vehicle.py: m._rebudget",
    "fleet/vehicle_sessions.py: m._rebudget", "fleet/vehicle_sessions.py: nxt._plug_from_line",
    "grid/signals.py: StepSignal._cut",
    "sim/docgen.py: parser._actions",  # argparse has no public listing of subcommands
}


def private_reads(used: set[str] | None = None) -> list[str]:
    """``module: expression`` for every ``x._name`` outside sim/core/ where x is not self or cls, and
    ``module: from M import _name`` for every private name imported from another module; the
    allowed ones met are added to ``used``."""
    import ast

    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("sim/core/"):
                continue
            for node in ast.walk(ast.parse(path.read_text(), rel)):
                if isinstance(node, ast.ImportFrom):
                    found += [f"{rel}: from {node.module} import {a.name} (line {node.lineno})"
                              for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                        and not node.attr.startswith("__")):
                    owner = node.value
                    if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                        continue
                    what = f"{rel}: {ast.unparse(owner)}.{node.attr}"
                    if what not in PRIVATE_ALLOWED:
                        found.append(f"{what} (line {node.lineno})")
                    elif used is not None:
                        used.add(what)
    return found


def test_no_module_outside_the_kernel_reads_another_owners_private_state():
    used: set[str] = set()
    assert private_reads(used) == []
    assert PRIVATE_ALLOWED - used == set(), "allowed reads that no longer occur: remove them from PRIVATE_ALLOWED"


def test_simpy_internals_are_named_only_in_the_kernel():
    import re

    names = ("_queue", "_eid", "_now", "_stream")
    hits = [f"{p.relative_to(ROOT)}: {n}" for package in PACKAGES for p in sorted((ROOT / package).rglob("*.py"))
            if not p.relative_to(ROOT).as_posix().startswith("sim/core/")
            for n in names if re.search(rf"\.{n}\b", p.read_text())]
    assert hits == []


def test_the_private_state_guard_catches_a_read(tmp_path, monkeypatch):
    import ast

    tree = ast.parse("def f(env):\n    return env._queue\n")
    attrs = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute)]
    assert [a.attr for a in attrs] == ["_queue"]  # what private_reads() looks for, on a tiny module
    pkg = tmp_path / "fleet"
    pkg.mkdir()
    (pkg / "leak.py").write_text("def f(env):\n    return env._queue\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__), "PACKAGES", ("fleet",))
    assert private_reads() == ["fleet/leak.py: env._queue (line 2)"]


@pytest.mark.parametrize("module, host", [("fleet.vehicle_billing", "BillingHost"),
                                          ("fleet.vehicle_sessions", "SessionHost")])
def test_vehicle_mixins_use_only_what_their_protocol_declares(module, host):
    """Both sides of each mixin's contract: every ``self.X`` it uses is its own or declared in its
    Protocol, and :class:`fleet.vehicle.Vehicle` has everything the Protocol declares."""
    import ast
    import importlib
    import typing

    from fleet.vehicle import Vehicle

    mod = importlib.import_module(module)
    protocol = getattr(mod, host)
    declared = set(typing.get_type_hints(protocol)) | {
        n for n, v in vars(protocol).items() if callable(v) and not n.startswith("__")}
    mixin = next(c for c in vars(mod).values() if isinstance(c, type) and c.__module__ == module
                 and c is not protocol and issubclass(Vehicle, c))
    own = set(vars(mixin))
    tree = ast.parse(__import__("inspect").getsource(mixin))
    used = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "self"}
    assert used - own - declared == set(), f"{host} does not declare what {mixin.__name__} uses"
    assert {n for n in declared if not hasattr(Vehicle, n)} == set(), f"Vehicle lacks part of {host}"
