"""fleetsim: discrete-event simulation of an AI inference fleet of parked electric cars.

The `sim` package holds the simulation kernel (`sim.core`: engine, timers, clock, recorder, random
streams, errors) and the composition root (scenario, runner, results, studies, CLI).
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fleetsim")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"
