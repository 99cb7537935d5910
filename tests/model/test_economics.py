"""Fleet-level economics: availability breakdown, fleet against data center, workplace charging,
tariff and carbon files named in a scenario, and the musk_100gw example."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fleet import roofline
from fleet.chip import CHIP_PRESETS
from fleet.llm import MODEL_PRESETS
from sim.runner import Simulation, run
from sim.scenario import default_scenario, load_scenario

ROOT = Path(__file__).resolve().parents[2]
SMALL = {"fleet.vehicles": 150, "run.days": 1.0, "workload.interactive.rate_per_s": 0.075,
         "workload.batch.rate_per_s": 0.075}


@pytest.fixture(scope="module")
def small():
    return run(default_scenario().with_overrides(SMALL))


def test_availability_parts_add_up_to_the_nameplate(small):
    a = small.summary["availability"]
    # 150 cars x HW4's 160 W full power
    assert a["nameplate_gw"] == pytest.approx(150 * 160 / 1e9, rel=1e-12)
    lost = sum(a["lost_gw"].values())
    assert a["available_gw"] + lost == pytest.approx(a["nameplate_gw"], rel=1e-9)
    assert a["available_gw"] == pytest.approx(small.summary["fleet"]["avg_available_inference_gw"], rel=1e-12)
    # Owners opted out: their share of the time, all of it (they are never online) ...
    veh = small.vehicles
    out_share = 1.0 - veh["opted_in"].mean()
    assert a["lost_gw"]["opted_out"] <= out_share * a["nameplate_gw"] * (1 + 1e-9)
    # ... less the time they drive, which is counted as driving.
    assert a["lost_gw"]["opted_out"] > 0.9 * out_share * a["nameplate_gw"]
    assert a["available_gw"] <= a["peak_hour_available_gw"] <= a["nameplate_gw"]


def test_offline_reasons_split_the_parked_count(small):
    ts = small.timeseries
    parts = ts["offline_opted_out"] + ts["offline_no_connection"] + ts["offline_low_battery"]
    assert (parts - ts["parked"]).abs().max() < 1e-9


def test_comparison_uses_the_fleet_totals_and_the_roofline_steady_state(small):
    s = small.summary
    c = s["comparison"]
    tokens = float(small.jobs.loc[small.jobs["outcome"] == "completed", "output_tokens"].sum())
    assert c["tokens_generated"] == tokens == s["tokens"]["generated"]
    f = c["fleet"]
    assert f["kwh_per_million_tokens"] == pytest.approx(s["attribution"]["inference_kwh"] / tokens * 1e6, rel=1e-12)
    pay = small.vehicles["payout_usd"].sum()
    elec = small.vehicles["inference_usd"].sum()
    assert f["usd_per_million_tokens"] == pytest.approx((pay + elec) / tokens * 1e6, rel=1e-12)
    d = c["datacenter"]
    # an H100 serving Llama-3.1-8B bf16, kept full at batch 64 or as many of the run's mean requests
    # as its KV cache holds, x PUE 1.58, J -> kWh
    done = small.jobs[small.jobs["outcome"] == "completed"]
    out = done["output_tokens"].to_numpy(dtype=float)
    prompt, held = done["prompt_tokens"].mean(), (out ** 2).sum() / out.sum()
    kv_tokens = (80e9 * 0.9 - 8.03e9 * 2) / (2 * 32 * 8 * 128 * 2)  # facts.md §6b, vLLM's 0.9 of memory
    batch = min(64, int(kv_tokens // (prompt + held / 2)))
    assert d["batch"] == batch and d["batch_size"] == 64
    s = roofline.saturated(CHIP_PRESETS["h100_sxm"], MODEL_PRESETS["llama-3.1-8b-bf16"], batch, prompt, out.mean(),
                           held)
    assert d["kwh_per_million_tokens"] == pytest.approx(s["j_per_token"] * 1.58 / 3.6e6 * 1e6, rel=1e-12)
    assert c["ratio_fleet_to_datacenter"]["kwh"] == pytest.approx(
        f["kwh_per_million_tokens"] / d["kwh_per_million_tokens"], rel=1e-12)


def test_workplace_charging_plugs_commuters_in_at_work():
    over = dict(SMALL, **{"run.warmup_days": 0.0,  # from the drawn, partly low states of charge
                          "fleet.workplace_charging_share": 1.0, "fleet.itinerary.commuter_share": 1.0,
                          "fleet.home_charger_share": 0.0})
    with_work = run(default_scenario().with_overrides(over))
    without = run(default_scenario().with_overrides(dict(over, **{"fleet.workplace_charging_share": 0.0})))
    ts = with_work.timeseries
    hours = ts["t_s"] / 3600.0
    assert ts.loc[(hours > 10) & (hours <= 16), "plugged"].mean() > 10  # weekday office hours
    assert without.timeseries["plugged"].max() == 0
    assert with_work.summary["energy_kwh"]["grid_import"] > 0 == without.summary["energy_kwh"]["grid_import"]
    assert with_work.vehicles["workplace_charger"].all()
    assert with_work.summary["checks"]["passed"] and with_work.summary["fleet"]["trips_impacted"] == 0


def test_a_tariff_file_and_a_generic_carbon_csv_drive_the_run(tmp_path):
    tariff = tmp_path / "flat.toml"
    tariff.write_text('name = "flat"\nsource = "test"\n[[periods]]\nname = "all"\nprice_usd_per_kwh = 0.2\n'
                      'hours = "all"\n')
    carbon = tmp_path / "ci.csv"
    rows = "".join(f"2022-06-{6 + h // 24:02d}T{h % 24:02d}:00:00-07:00,{100 + h}\n" for h in range(30))
    carbon.write_text("time,carbon_g_per_kwh\n" + rows)
    over = dict(SMALL, **{"grid.tariff": str(tariff), "grid.carbon": str(carbon)})
    sim = Simulation(default_scenario().with_overrides(over))
    r = sim.run()
    veh = r.vehicles
    # A flat 0.20 $/kWh: every car's bill is its grid energy x 0.2.
    assert (veh["cost_usd"] - veh["grid_wh"] / 1000 * 0.2).abs().max() < 1e-9
    # The carbon signal is the file's: 100 g/kWh at the start, +1 g each hour.
    assert sim.carbon.value(0.0) == 100.0 and sim.carbon.value(5 * 3600.0 + 1) == 105.0


def test_bad_tariff_file_is_a_one_line_error_naming_the_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[[periods]]\nname = "all"\nprice_usd_per_kwh = -1\nhours = "all"\n')
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "run", "--set", f"grid.tariff={bad}",
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.toml" in lines[0] and "price_usd_per_kwh" in lines[0]
    assert not (tmp_path / "out").exists()


def test_musk_100gw_example_reports_its_breakdown_shortened():
    sc = load_scenario(ROOT / "examples" / "musk_100gw.toml")
    assert sc["fleet.represents"] == 100_000_000
    r = run(sc.with_overrides({"run.days": 0.25, "fleet.vehicles": 200}))
    a = r.summary["availability"]
    assert a["nameplate_gw"] == pytest.approx(100.0, rel=1e-12)  # 1 kW chips on 100 million cars
    assert a["available_gw"] + sum(a["lost_gw"].values()) == pytest.approx(100.0, rel=1e-9)
    assert a["available_gw"] < 100.0 and a["lost_gw"]["opted_out"] > 0


def test_tariff_files_in_the_repository_read_back_the_published_rates():
    from grid.tariff_file import load_tariff

    sce = load_tariff(ROOT / "examples" / "tariffs" / "sce_tou_ev_8.toml")
    # SCE TOU-EV-8 (sheet ce401, 2018, via ACN-Sim): summer weekday 4-9 pm on-peak, summer weekend
    # 4-9 pm mid-peak, winter 8 am-4 pm super-off-peak ($/kWh).
    assert sce.period_at(2, 17, month=7).price_usd_per_kwh == 0.49619  # Wednesday in July
    assert sce.period_at(5, 17, month=7).price_usd_per_kwh == 0.25563  # Saturday in July
    assert sce.period_at(2, 10, month=1).price_usd_per_kwh == 0.07724  # Wednesday in January
    assert sce.period_at(2, 22, month=7).price_usd_per_kwh == 0.12597
    b10 = load_tariff(ROOT / "examples" / "tariffs" / "pge_b10.toml")
    assert [c.usd_per_kw for c in b10.demand_charges] == [20.5]  # PG&E B-10 maximum demand, $/kW-month


@pytest.mark.parametrize("key,value,needle", [
    ("grid.carbon", "/nonexistent/ci.csv", "file not found"),
    ("grid.tariff", "/nonexistent/t.toml", "file not found"),
    ("fleet.robotaxi.depot.tariff", "nope", "fleet.robotaxi.depot.tariff = 'nope'"),
])
def test_missing_grid_files_are_one_line_errors(tmp_path, key, value, needle):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "sim.cli", "run", "--set", f"{key}={value}",
                           "--set", "fleet.robotaxi.vehicles=2", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert not out.exists()
