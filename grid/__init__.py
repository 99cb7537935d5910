"""Grid layer: piecewise-constant signals (carbon, price), hourly profiles, tariffs and metering.

Imports only the ``sim`` kernel (``sim.core.clock``, ``sim.core.errors``), numpy, pandas and the standard
library; it knows nothing of vehicles. Import the submodules directly, e.g.
``from grid.signals import StepSignal``.
"""
