"""A per-token simulation of continuous batching, written from the roofline's definition (bytes
and FLOPs of a decode round, not :class:`fleet.batching.BatchServer`'s own terms): the truth the
server's bookkeeping is checked against (tests/fleet/test_serving.py, test_models_on_chip.py)."""
from __future__ import annotations

import math
from collections import deque

from fleet import roofline


class Job:
    """The fields the server reads and writes."""

    def __init__(self, i: int, arrival_s: float, prompt: int, out: int, model=None) -> None:
        self.job_id, self.arrival_s, self.prompt_tokens, self.output_tokens = i, arrival_s, prompt, out
        self.model = model
        self.output_done = 0
        self.first_token_s = self.finish_s = -1.0


# ---------------------------------------------------------------------- decode rounds of several models
def round_s(chip, own, decoding) -> float:
    """One decode round from its definition: it reads the weights of every model with a decoding job
    and each job's KV cache (prompt plus half its output), and does 2 FLOPs per parameter per job."""
    models = {j.model or own for j in decoding}
    read_b = sum(m.weight_bytes for m in models) + sum(
        (j.prompt_tokens + j.output_tokens / 2.0) * (j.model or own).kv_bytes_per_token for j in decoding)
    flops = sum(2.0 * (j.model or own).params_b * 1e9 for j in decoding)
    mem = read_b / (chip.bandwidth_gb_per_s * 1e9 * chip.bandwidth_efficiency)
    comp = flops / (chip.peak_tflops * 1e12 * chip.compute_efficiency)
    return roofline.joined_s(chip, mem, comp)


def brute_force(jobs, chip, own):
    """The schedule token by token (prefill first, FIFO; every decoding job advances each round)."""
    t = 0.0
    pending = deque(sorted(jobs, key=lambda j: j.arrival_s))
    waiting, prefills, decoding = deque(), deque(), {}
    held, prefill_end, result = 0, math.inf, {}

    def prefill_s(j):
        return roofline.prefill(chip, j.model or own, j.prompt_tokens)[0]

    while pending or waiting or prefills or decoding:
        if decoding and not prefills:
            rate = 1.0 / round_s(chip, own, list(decoding))
            next_token = t + min((math.floor(p + 1e-9) + 1 - p) for p in decoding.values()) / rate
        else:
            rate, next_token = 0.0, math.inf
        t_next = min(pending[0].arrival_s if pending else math.inf, prefill_end, next_token)
        for j in decoding:
            decoding[j] += (t_next - t) * rate
        t = t_next
        if t == prefill_end:
            j = prefills.popleft()
            j.first_token_s = t
            if j.output_tokens > 1:
                decoding[j] = 0.0
            else:
                result[j.job_id] = t
                held -= 1
            prefill_end = t + prefill_s(prefills[0]) if prefills else math.inf
        for j in [j for j, p in decoding.items() if p >= j.output_tokens - 1 - 1e-9]:
            del decoding[j]
            result[j.job_id] = t
            held -= 1
        while pending and pending[0].arrival_s <= t:
            waiting.append(pending.popleft())
        while waiting and held < chip.max_batch:
            j = waiting.popleft()
            held += 1
            prefills.append(j)
            if len(prefills) == 1:
                prefill_end = t + prefill_s(j)
    return [(j.first_token_s, result[j.job_id]) for j in jobs]
