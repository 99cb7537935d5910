"""Every example scenario runs (shortened), keeps its books and does what its comment says; the Azure
replay runs end to end."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sim.results import Results
from sim.runner import run
from sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
NEEDS_SHARED = {"azure_replay.toml"}


def test_there_are_examples():
    assert {p.name for p in EXAMPLES} >= {"default.toml", "azure_replay.toml", "plugged_first.toml",
                                          "staying_longest.toml", "supermarket.toml"}


# ------------------------------------------------------------------------- what each comment claims
# Checked on the shortened run of test_example_runs (at most 0.1 days and 300 personal cars).
def _future_chip_million(sc: Scenario, res: Results) -> None:
    """Each simulated car stands for 500 (fleet totals scaled, jobs not); about one car in ten holds a
    job, yet under 1 % of the chips' slots are busy, and idle draw is some 98 % of the chip's energy."""
    s = res.summary
    assert sc["fleet.weight"] == 500 and sc["dispatch.policy"] == "least_loaded"
    assert s["fleet"]["vehicles_represented"] == 500 * s["fleet"]["vehicles_simulated"]
    grid_kwh = float((res.vehicles["grid_wh"] * res.vehicles["weight"]).sum()) / 1000.0
    assert s["energy_kwh"]["grid_import"] == pytest.approx(grid_kwh, rel=1e-9)
    assert s["energy_kwh"]["grid_import"] > 400 * res.vehicles["grid_wh"].sum() / 1000.0
    assert 0.05 < s["fleet"]["mean_state_share"]["serving"] < 0.2
    assert s["utilization"]["mean"] < 0.01
    e = s["energy_kwh"]
    assert e["inference_idle"] / (e["inference_idle"] + e["inference_active"]) > 0.95


def _supermarket(sc: Scenario, res: Results) -> None:
    """Per-car queues with two choices at about a third of capacity (the first 2.4 hours: 20 %): waits
    stay under a second and almost no job overflows."""
    s = res.summary
    assert s["dispatch"]["queueing"] == "vehicle" and s["dispatch"]["policy"] == "power_of_d"
    assert 0.1 < s["utilization"]["mean"] < 0.5
    assert s["jobs"]["wait_s"]["p99"] < 1.0
    assert s["jobs"]["overflowed"] <= 1e-3 * s["jobs"]["arrived"]


def _musk_100gw(sc: Scenario, res: Results) -> None:
    """The simulated cars stand for 100 million in the cohorts' shares; the chips' nameplate is cars x
    1 kW, split into available power and what driving, opting out, no connection and low batteries
    take (half the owners opt in); under 1 % of the slots are busy."""
    s, a = res.summary, res.summary["availability"]
    cars = sc["fleet.represents"]
    assert cars == 100_000_000 and s["fleet"]["vehicles_represented"] == pytest.approx(cars, rel=1e-12)
    assert [c["vehicles_represented"] for c in s["cohorts"]] == pytest.approx([0.97 * cars, 0.03 * cars], rel=1e-12)
    assert a["nameplate_gw"] == pytest.approx(cars * 1e3 / 1e9, rel=1e-12)
    assert a["available_gw"] + sum(a["lost_gw"].values()) == pytest.approx(a["nameplate_gw"], rel=1e-9)
    assert 0.3 < a["lost_gw"]["opted_out"] / a["nameplate_gw"] < 0.7
    assert 0.0 < a["available_gw"] < a["nameplate_gw"]
    assert s["utilization"]["mean"] < 0.01


def _two_models(sc: Scenario, res: Results) -> None:
    """Chat on Llama-3.2-3B, batch work units on Llama-3.1-8B, both on the cars' chips."""
    models = {m["name"]: m for m in res.summary["serving"]["models"]}
    by_class = res.summary["jobs"]["by_class"]
    assert list(models) == ["llama-3.2-3b-q4", "llama-3.1-8b-q4"]
    assert models["llama-3.2-3b-q4"]["arrived"] == by_class["interactive"]["arrived"] > 0
    assert models["llama-3.1-8b-q4"]["arrived"] == by_class["batch"]["arrived"]


def _h100_vs_ai5(sc: Scenario, res: Results) -> None:
    """Each AI5 chip runs a few sequences at once, against an H100 data center on the same model."""
    s = res.summary
    assert s["serving"]["mode"] == "batched" and s["serving"]["mean_batch"] > 1.5
    assert s["comparison"]["datacenter"]["model"] == sc["fleet.model.preset"] == "llama-3.1-8b-bf16"


def _robotaxi_depot(sc: Scenario, res: Results) -> None:
    """200 robotaxis share one depot of 30 stalls behind a 2 MW connection, on a tariff with demand charges."""
    depot = res.summary["robotaxi"]["depot"]
    assert sc["fleet.robotaxi.vehicles"] == 200
    assert depot["stalls"] == 30 and depot["cap_kw"] == 2000.0
    assert 0.0 < depot["peak_kw"] <= depot["cap_kw"] + 1e-9
    assert depot["demand_charge_usd"] is not None


CLAIMS: dict[str, Callable[[Scenario, Results], None]] = {
    "future_chip_million.toml": _future_chip_million,
    "musk_100gw.toml": _musk_100gw,
    "supermarket.toml": _supermarket,
    "two_models.toml": _two_models,
    "h100_vs_ai5.toml": _h100_vs_ai5,
    "robotaxi_depot.toml": _robotaxi_depot,
}


def test_claims_name_existing_examples():
    assert set(CLAIMS) <= {p.name for p in EXAMPLES}


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
    if path.name in CLAIMS:
        CLAIMS[path.name](sc, res)


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
