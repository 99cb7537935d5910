"""The simulation kernel: engine, timers, clock, recorder, random streams, errors, input guards.

Imports only the standard library, simpy and numpy; every other layer builds on it
(grid on the kernel; fleet on grid and the kernel; the model, the studies, the reports and the
command line on top).
"""
