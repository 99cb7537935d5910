"""Every example scenario runs (shortened) and keeps its books; the Azure replay runs end to end."""
from __future__ import annotations

from pathlib import Path

import pytest

from sim.runner import run
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
NEEDS_SHARED = {"azure_replay.toml"}


def test_there_are_examples():
    assert {p.name for p in EXAMPLES} >= {"default.toml", "azure_replay.toml", "plugged_first.toml",
                                          "staying_longest.toml", "supermarket.toml"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(path):
    if path.name in NEEDS_SHARED and not SHARED.is_dir():
        pytest.skip(f"{SHARED} is absent: the example replays a shared data file")
    sc = load_scenario(path)
    short = min(sc["run.days"], 0.1)
    res = run(sc.with_overrides({"run.days": short, "fleet.vehicles": min(sc["fleet.vehicles"], 300)}))
    s = res.summary
    assert s["checks"]["job_balance_residual"] == 0
    assert abs(s["checks"]["energy_balance_residual_kwh"]) < 1e-6 * max(1.0, s["energy_kwh"]["grid_import"])
    assert s["fleet"]["trips_impacted"] == 0
    assert s["jobs"]["arrived"] > 0


def test_azure_trace_replay_end_to_end():
    trace = SHARED / "azure-llm-2023" / "AzureLLMInferenceTrace_conv.csv"
    if not trace.is_file():
        pytest.skip(f"{trace} is absent")
    sc = load_scenario(ROOT / "examples" / "azure_replay.toml")
    res = run(sc.with_overrides({"run.days": 3600.0 * 1.5 / 86400.0}))  # the trace spans ~58 min
    jobs = res.jobs
    assert res.summary["jobs"]["arrived"] == 19_366
    assert len(jobs) == 19_366
    assert int(jobs["prompt_tokens"].sum()) == 22_361_870
    assert int(jobs["output_tokens"].sum()) == 4_088_665
    assert (jobs["job_class"] == "interactive").all()


def test_compare_policies_prints_one_row_per_policy():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "compare_policies.py"), "--days", "0.1",
                           "--vehicles", "60"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["policy", "completed", "preempted"]
    assert [ln.split()[0] for ln in lines[2:]] == ["random", "least_loaded", "departure_aware", "carbon_aware"]
    completed = {int(ln.split()[1].replace(",", "")) for ln in lines[2:]}
    assert min(completed) > 0


def test_ten_line_policy_is_ten_lines():
    """The README's custom policy is the example file's class, and it is ten lines long."""
    src = (ROOT / "examples" / "staying_longest.py").read_text()
    body = src[src.index("class StayingLongest"):].strip().splitlines()
    assert len(body) <= 10
    assert "\n".join(body) in (ROOT / "README.md").read_text()
