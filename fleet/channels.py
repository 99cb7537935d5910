"""Names and indices of the fleet's recorder levels and counters.

Levels are exact time integrals (see ``sim.core.recorder``): vehicle counts per state, busy and
online chip slots, power per energy category (W, load side), grid draw (W), net battery power
(W, positive = charging) and queue length. Every Wh a vehicle uses lands in exactly one power
category.
"""
from __future__ import annotations

LEVELS = (
    "driving",
    "parked",  # asleep or offline
    "available",  # awake, chip idle
    "serving",  # awake, at least one busy slot
    "charging",  # orthogonal: plugged below the charge limit, the charger drawing its step power
    "plugged",
    "busy_slots",
    "online_slots",
    "online_chip_w",  # full-load power of the chips of online vehicles: available inference power
    "power_w_driving",
    "power_w_inference_active",
    "power_w_inference_idle",
    "power_w_awake_overhead",
    "power_w_sleep",
    "power_w_charging_losses",
    "power_w_discharge_losses",
    "grid_w",
    "battery_w",
    "queue_interactive",
    "queue_batch",
    # why a parked car is offline (each a share of "parked"): owner not opted in, no connection
    # away from home, or the battery at what the car must keep (reserve or the next trips' energy)
    "offline_opted_out",
    "offline_no_connection",
    "offline_low_battery",
)
(
    DRIVING,
    PARKED,
    AVAILABLE,
    SERVING,
    CHARGING,
    PLUGGED,
    BUSY_SLOTS,
    ONLINE_SLOTS,
    ONLINE_CHIP_W,
    P_DRIVING,
    P_ACTIVE,
    P_IDLE,
    P_OVERHEAD,
    P_SLEEP,
    P_CHARGE_LOSS,
    P_DISCHARGE_LOSS,
    P_GRID,
    P_BATTERY,
    Q_INTERACTIVE,
    Q_BATCH,
    OFF_OPTED_OUT,
    OFF_NO_CONNECTION,
    OFF_LOW,
) = range(len(LEVELS))

ENERGY_CATEGORIES = (
    "driving",
    "inference_active",
    "inference_idle",
    "awake_overhead",
    "sleep",
    "charging_losses",
    "discharge_losses",
)

COUNTERS = ("trips_started",)
(C_TRIPS,) = range(len(COUNTERS))

# Per-interval job counts are differences of the dispatcher's running totals at each sample.
JOB_COUNTERS = ("jobs_arrived", "jobs_started", "jobs_completed", "jobs_dropped", "jobs_overflowed",
                "jobs_preempted", "preempted_departure", "preempted_reserve", "preempted_outage")
