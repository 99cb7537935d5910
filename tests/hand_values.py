"""Published figures typed in by hand, once, for the tests to check the library against."""
from __future__ import annotations

# reference/facts.md §4: CAISO 2022 average gCO2/kWh by Pacific local hour 0..23.
CAISO = [308, 305, 303, 301, 301, 301, 301, 283, 231, 193, 181, 178,
         177, 177, 178, 184, 208, 241, 266, 294, 306, 309, 310, 311]


def ev2a_summer(hour: int) -> float:
    """PG&E EV2-A summer price by local hour ($/kWh; the tariff sheet cited in grid/tariff.py):
    off-peak 0-15 h, partial peak 15-16 and 21-24 h, peak 16-21 h."""
    if hour < 15:
        return 0.22558
    if hour == 15 or hour >= 21:
        return 0.42760
    return 0.53809
