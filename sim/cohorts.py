"""The cohorts of a mixed fleet (``[[fleet.cohorts]]``): each a share of ``fleet.vehicles`` with its
own per-car fleet keys, resolved into a scenario of its own.

A scenario without cohorts is one cohort, ``fleet``, of all its personal cars (and, when
``fleet.robotaxi.vehicles`` > 0, a second, ``robotaxi``, of its robotaxis), so that results always
break down by cohort.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sim.core.errors import ScenarioError
from sim.scenario import PERSONAL, ROBOTAXI, Scenario, cohort_values, resolve

#: the cohort names of a scenario without ``[[fleet.cohorts]]``
WHOLE_FLEET, ROBOTAXI_FLEET = "fleet", "robotaxi"


@dataclass(frozen=True)
class Cohort:
    """One cohort: its name, profile, share of ``fleet.vehicles``, simulated cars, and the scenario
    its cars follow (the fleet's with the cohort's keys applied)."""

    name: str
    profile: str
    share: float
    vehicles: int
    scenario: Scenario


def apportion(shares: list[float], total: int) -> list[int]:
    """Whole counts adding to ``total`` in proportion to ``shares`` (which add to 1): each gets the
    floor of its quota, and the cars left over go to the largest remainders (ties: the first listed)."""
    scale = math.fsum(shares)  # 1 within the scenario's tolerance: normalised so counts never exceed the total
    quotas = [s / scale * total for s in shares]
    counts = [min(total, math.floor(q)) for q in quotas]
    left = max(0, total - sum(counts))
    order = sorted(range(len(shares)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return counts


def fleet_cohorts(sc: Scenario) -> tuple[Cohort, ...]:
    """The scenario's cohorts in vehicle-id order: the personal ones as listed, then the robotaxi ones
    as listed (robotaxis take the ids after every personal car)."""
    tables = sc["fleet.cohorts"]
    if not tables:
        out = [Cohort(WHOLE_FLEET, PERSONAL, 1.0, sc["fleet.vehicles"], sc)]
        if sc["fleet.robotaxi.vehicles"]:
            out.append(Cohort(ROBOTAXI_FLEET, ROBOTAXI, 0.0, sc["fleet.robotaxi.vehicles"], sc))
        return tuple(out)
    counts = apportion([c["share"] for c in tables], sc["fleet.vehicles"])
    values = sc.to_dict()
    cohorts = [Cohort(c["name"], c["profile"], c["share"], n, resolve(cohort_values(values, c), sc.source))
               for c, n in zip(tables, counts)]
    return tuple([c for c in cohorts if c.profile == PERSONAL] + [c for c in cohorts if c.profile == ROBOTAXI])


def cohort_weights(sc: Scenario, cohorts: tuple[Cohort, ...]) -> list[float]:
    """The real vehicles each simulated car of each cohort stands for.

    ``fleet.represents = N`` stratifies by cohort: N is apportioned to the cohorts by their shares
    (without cohort tables: by their simulated cars) and each cohort's cars weigh its part over its
    simulated cars, so every cohort keeps its share of the represented fleet whatever the rounding
    of the simulated one. Without it, every car weighs ``fleet.weight``."""
    represents = sc["fleet.represents"]
    if not represents:
        return [sc["fleet.weight"]] * len(cohorts)
    simulated = sum(c.vehicles for c in cohorts)
    shares = [c.share for c in cohorts] if sc["fleet.cohorts"] else [c.vehicles / simulated for c in cohorts]
    out = []
    for c, real in zip(cohorts, apportion(shares, represents)):
        if c.vehicles == 0 and real:
            raise ScenarioError(f"fleet.represents = {represents!r}: cohort {c.name!r} stands for {real:,} vehicles "
                                "but has no simulated one; allowed: more fleet.vehicles")
        out.append(real / c.vehicles if c.vehicles else 0.0)
    return out
