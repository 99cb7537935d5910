"""Compare four dispatch policies on the default fleet and print a table.

    python examples/compare_policies.py [--days 1] [--vehicles 1000] [--seed 1]

Each policy runs the same scenario with the same seed, so the fleet, the itineraries and the
arrivals are identical; only the dispatch differs.
"""
from __future__ import annotations

import argparse

from sim.runner import run
from sim.scenario import default_scenario

POLICIES = ("random", "least_loaded", "departure_aware", "carbon_aware")
COLUMNS = (  # header, summary path, format
    ("completed", "jobs.completed", "{:,}"),
    ("preempted", "jobs.preempted", "{:,}"),
    ("wasted kWh", "jobs.wasted_kwh", "{:.2f}"),
    ("p95 interactive s", "jobs.by_class.interactive.latency_s.p95", "{:.1f}"),
    ("SLO met", "jobs.slo_attainment", "{:.2%}"),
    ("kg CO2", "co2_kg.total", "{:,.0f}"),
    ("J/token", "inference_j_per_token", "{:.2f}"),
    ("Gini tokens", "fairness.gini_tokens_served", "{:.3f}"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--vehicles", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    base = default_scenario().with_overrides(
        {"run.days": args.days, "fleet.vehicles": args.vehicles, "run.seed": args.seed})
    rows = []
    for policy in POLICIES:
        res = run(base.with_overrides({"dispatch.policy": policy}))
        rows.append([policy] + [fmt.format(res.metric(path)) for _, path, fmt in COLUMNS])
    header = ["policy"] + [h for h, _, _ in COLUMNS]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, [""] * len(header), *rows]:
        cells = [r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]
        print("  ".join(cells) if any(r) else "  ".join("-" * w for w in widths))


if __name__ == "__main__":
    main()
