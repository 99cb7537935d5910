"""Inference jobs: plain records with ``__slots__`` (never SimPy processes).

A job's life: QUEUED -> RUNNING -> (COMPLETED | back to QUEUED on preemption); a job that waits
past its class's limit is DROPPED, or OVERFLOW when it is sent to the data-center pool instead.
Batch jobs keep the tokens they already decoded when preempted (checkpointing); interactive
jobs restart from scratch and their lost tokens count as waste.
"""
from __future__ import annotations

#: job outcomes: codes and their names (jobs.csv's ``outcome`` column)
QUEUED, RUNNING, COMPLETED, DROPPED, OVERFLOW = 0, 1, 2, 3, 4
OUTCOME_NAMES = ("queued", "running", "completed", "dropped", "overflow")
#: job classes: codes and their names (jobs.csv's ``job_class`` column)
INTERACTIVE_CLASS, BATCH_CLASS = 0, 1
CLASS_NAMES = ("interactive", "batch")


class Job:
    """One inference request or batch work unit. Times in simulation seconds."""

    __slots__ = (
        "job_id",
        "job_class",
        "arrival_s",
        "prompt_tokens",
        "output_tokens",
        "output_done",
        "service_left_s",
        "slo_s",
        "deadline_s",
        "max_wait_s",
        "state",
        "vehicle",
        "start_s",
        "end_s",
        "first_start_s",
        "finish_s",
        "prefill_s",
        "run_event",
        "expiry_event",
        "queue",
        "preemptions",
        "wasted_tokens",
        "energy_wh",
        "cost_usd",
        "co2_g",
        "bill_s",
        "first_token_s",
        "tpot_s",
        "network_s",
        # the model it needs (a fleet.llm.ModelSpec; None: the fleet's own), that model's code in the
        # jobs table, and the seconds it waited for its model to load on the car that served it
        "model",
        "model_code",
        "load_s",
        # batched serving (fleet.batching): finish and length in the chip's virtual decode steps,
        # output tokens and prompt tokens done in the run a preemption ended, and the vehicle's
        # per-job bill accumulators when the job was last billed
        "batch_v",
        "batch_steps",
        "batch_tokens",
        "batch_prefilled",
        "bill_mark",
        "run_mark",
    )

    def __init__(
        self,
        job_id: int,
        job_class: int,
        arrival_s: float,
        prompt_tokens: int,
        output_tokens: int,
        slo_s: float,
        max_wait_s: float,
        service_s: float | None = None,
    ) -> None:
        self.job_id = job_id
        self.job_class = job_class
        self.arrival_s = arrival_s
        self.prompt_tokens = prompt_tokens
        self.output_tokens = output_tokens
        self.output_done = 0  # decoded tokens kept across preemptions (batch only)
        self.service_left_s = service_s  # fixed service requirement still to serve (exponential option) or None
        self.slo_s = slo_s
        self.deadline_s = arrival_s + slo_s  # absolute completion target: the EDF key
        self.max_wait_s = max_wait_s
        self.state = QUEUED
        self.vehicle = None
        self.start_s = -1.0
        self.end_s = -1.0  # expected end of the current service on a vehicle
        self.first_start_s = -1.0
        self.finish_s = -1.0
        self.prefill_s = 0.0
        self.run_event = None
        self.expiry_event = None
        self.queue = None  # the JobQueue holding it while queued
        self.preemptions = 0
        self.wasted_tokens = 0
        # what its runs on vehicles used: Wh at the car, $ and gCO2 of supplying it
        self.energy_wh = 0.0
        self.cost_usd = 0.0
        self.co2_g = 0.0
        self.bill_s = -1.0  # start of the run not yet billed to it
        self.first_token_s = -1.0  # when its first output token came (the run that completed it)
        self.tpot_s = -1.0  # time per output token after the first, in the run that completed it
        self.network_s = 0.0  # what the car's link added to its latency (s)
        self.model = None  # the fleet's model (fleet.model); the runner sets another a class names
        self.model_code = 0
        self.load_s = 0.0
        # batch_v, batch_steps, batch_tokens, batch_prefilled, bill_mark and run_mark are set by
        # batched serving before they are read
