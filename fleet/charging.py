"""Smart-charging strategies: when a plugged car charges between plugging in and departing.

A strategy turns one plug-in session into *charging windows*. Outside them the car holds: the
charger covers only the car's own load and the battery neither charges nor drains. Strategies:

- ``immediate``: charge from plug-in until the charge limit (no windows, the default);
- ``off_peak``: charge in the cheapest hours of the price signal before departure;
- ``carbon_aware``: charge in the lowest-carbon hours of the carbon signal before departure.

The signal is taken as a perfect day-ahead forecast (tariffs are known in advance; a carbon
forecast is assumed exact). The time a charge takes does not depend on when it happens (the
taper depends on the state of charge only), so the cheapest hours are simply the cheapest pieces
of the signal whose lengths add up to that time. The time is computed for the worst-case load
(every chip slot busy) so the plan always delivers at least what it promises.

Every plan must deliver the energy the next tour needs (reserve plus the tour's driving) by the
departure. When even charging the whole time until departure cannot, the strategy falls back to
``immediate`` and the fallback is counted.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

from fleet.battery import BatterySpec, ChargerSpec

STRATEGIES = ("immediate", "off_peak", "carbon_aware")
_INF = float("inf")


def charge_time_s(charger: ChargerSpec, battery: BatterySpec, e0_wh: float, e1_wh: float, load_w: float) -> float:
    """Seconds to charge from ``e0_wh`` to ``e1_wh`` while the car draws ``load_w`` W (inf if never).

    Piece by piece along the taper: in piece ``k`` the battery gains
    ``efficiency * step_power_w(k) - load_w`` W.
    """
    cap = battery.capacity_wh
    total = 0.0
    e = e0_wh
    k = charger.step_index(e0_wh / cap)
    while e < e1_wh - 1e-9:
        upper = charger.step_upper_soc(k) * cap if k < charger.taper_steps else _INF
        end = min(upper, e1_wh)
        gain_w = charger.efficiency * charger.step_powers_w[k] - load_w
        if gain_w <= 0.0:
            return _INF
        total += (end - e) * 3600.0 / gain_w
        e = end
        k += 1
    return total


def cheapest_windows(times_s: Sequence[float], values: Sequence[float], t0_s: float, t1_s: float,
                     duration_s: float) -> list[tuple[float, float]]:
    """The cheapest ``duration_s`` seconds of a step signal within ``[t0_s, t1_s]``, as windows.

    ``values[i]`` holds from ``times_s[i]`` to ``times_s[i+1]`` (the last to ``t1_s``). Pieces
    are taken cheapest first, ties earliest first; a partly used piece is used from its start.
    Returns time-ordered, merged ``(start_s, end_s)`` windows (all of ``[t0_s, t1_s]`` when
    ``duration_s`` covers it).
    """
    if duration_s <= 1e-9 or t1_s <= t0_s:
        return []
    if duration_s >= t1_s - t0_s:
        return [(t0_s, t1_s)]
    i = max(0, bisect_right(times_s, t0_s) - 1)
    pieces = []
    while i < len(times_s) and times_s[i] < t1_s:
        a = max(times_s[i], t0_s)
        b = min(times_s[i + 1] if i + 1 < len(times_s) else t1_s, t1_s)
        if b > a:
            pieces.append((values[i], a, b))
        i += 1
    pieces.sort()
    chosen = []
    left = duration_s
    for _, a, b in pieces:
        take = min(b - a, left)
        chosen.append((a, a + take))
        left -= take
        if left <= 1e-9:  # rounding leftovers of the subtraction are not a window
            break
    chosen.sort()
    merged: list[tuple[float, float]] = []
    for a, b in chosen:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged
