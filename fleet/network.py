"""The link between a parked car and its users: round trips, bandwidth and outages.

A request reaches the car over the car's link and its answer streams back over it. The network
adds to a job's time to first token and its latency (measured from the request's arrival):
one round trip, the prompt's bytes at the link's download rate and the answer's bytes at its
upload rate. Only the car's leg is modelled: the user's own leg to the internet is the same for a
data center and is left out. The chip's schedule is not delayed (the network is added after).

A parked, connected car loses its link now and then (a Poisson process while parked); an outage
preempts its jobs as a departure does and takes it offline until the link is back.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from sim.core.params import NONNEG, POS, param

#: text on the wire, bytes per token (facts.md §7: "text is ~4 B/token", derived)
BYTES_PER_TOKEN = 4.0


@dataclass(frozen=True)
class LinkSpec:
    """One kind of connection. Times in s, rates in Mbit/s."""

    name: str
    rtt_s: float = param(doc="median round-trip time, s (default: preset)", **POS, hi=60.0)
    rtt_sigma: float = param(doc="spread of the round-trip time: sigma of its lognormal (default: preset)",
                             **NONNEG, hi=5.0)
    down_mbps: float = param(doc="download rate, Mbit/s (default: preset)", lo=0.001, hi=1e6)
    up_mbps: float = param(doc="upload rate, Mbit/s (default: preset)", lo=0.001, hi=1e6)
    outages_per_day: float = param(doc="outages per day while parked and connected (default: preset)",
                                   **NONNEG, hi=1e4)
    outage_median_s: float = param(doc="median outage, s (lognormal, sigma 1; default: preset)", **POS, hi=1e6)
    source: str = ""

    def delay_s(self, rtt_draw: float, prompt_tokens: int, output_tokens: int) -> float:
        """Network time (s) a job adds: the round trip ``rtt_draw`` (s) plus the prompt down and
        the answer up at the link's rates."""
        bits = 8.0 * BYTES_PER_TOKEN
        return (rtt_draw + prompt_tokens * bits / (self.down_mbps * 1e6)
                + output_tokens * bits / (self.up_mbps * 1e6))


LINK_PRESETS: dict[str, LinkSpec] = {
    # US fixed broadband, Ookla Q3 2023 medians: 213.75 Mbit/s down, 23.71 up, 13 ms latency
    # (tvtechnology.com, 2023, citing Ookla Speedtest Intelligence); the home Wi-Fi hop is taken as
    # free. Spread and outages: ASSUMPTION (no public figure for parked cars): sigma 0.5, one outage
    # a week of 2 minutes median (a router reboot or a weak garage signal); sweep them.
    "home_wifi": LinkSpec("home_wifi", rtt_s=0.013, rtt_sigma=0.5, down_mbps=213.75, up_mbps=23.71,
                          outages_per_day=1.0 / 7.0, outage_median_s=120.0,
                          source="Ookla Q3 2023 US fixed medians [M]; spread and outages ASSUMPTION"),
    # US mobile, Ookla H1 2024 (facts.md §7): T-Mobile median 235 Mbit/s down, 13.3 up, 48 ms latency
    # [H]. Outages: ASSUMPTION, two a day of one minute median (cell edges in garages); sweep them.
    "cellular": LinkSpec("cellular", rtt_s=0.048, rtt_sigma=0.5, down_mbps=235.0, up_mbps=13.3,
                         outages_per_day=2.0, outage_median_s=60.0,
                         source="facts.md §7: Ookla H1 2024 [H]; spread and outages ASSUMPTION"),
}


def lognormal(rng, median: float, sigma: float) -> float:
    """A lognormal draw with ``median`` and log-sigma ``sigma`` from the ``random.Random`` ``rng``."""
    return median * math.exp(sigma * rng.gauss(0.0, 1.0)) if sigma > 0.0 else median
