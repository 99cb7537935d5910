"""Studies: many runs of the model. Sweeps over scenario keys and seeds (:mod:`sim.studies.sweep`),
tuning with Optuna (:mod:`sim.studies.tune`), the executors that run points in worker processes or
on Dask (:mod:`sim.studies.executors`) and the statistics over seeds (:mod:`sim.studies.stats`).

A study depends only on ``sim.runner.run(scenario) -> Results``, the scenario format and the
results folder format; it never draws figures: the command line passes the report functions of
:mod:`reports` in.
"""
