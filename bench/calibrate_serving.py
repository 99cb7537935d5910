"""Fit the roofline's calibration constants to the ML.ENERGY H100 measurements.

Reads ml-energy/leaderboard's ``public/data/models/meta-llama__Llama-3.1-8B-Instruct__lm-arena-chat.json``
(commit 0cd52da; fetch the repository and pass the file with ``--json``), fits
``bandwidth_efficiency``, ``compute_efficiency``, ``overlap`` and ``power_exponent`` of the
``h100_sxm`` preset serving ``llama-3.1-8b-bf16`` to the output tokens/s, GPU power and median
inter-token latency at max batch 8, 64 and 512 (:func:`fleet.roofline.saturated`), and prints the
fit and its error at every other measured batch size. The constants go into fleet/chip.py.

    python bench/calibrate_serving.py --json PATH [--prompt-tokens 200]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fleet.chip import CHIP_PRESETS  # noqa: E402
from fleet.llm import MODEL_PRESETS  # noqa: E402
from fleet.roofline import saturated  # noqa: E402

CALIBRATION_BATCHES = (8, 64, 512)
FIELDS = ("bandwidth_efficiency", "compute_efficiency", "overlap", "power_exponent")
BOUNDS = ((0.3, 1.0), (0.05, 1.0), (1.0, 20.0), (0.02, 2.0))


def load_points(path: Path) -> tuple[list[dict], float, float]:
    """The H100 single-GPU configurations, and the output length's mean and length-biased mean."""
    data = json.loads(path.read_text())
    hist = data["output_length_distribution"]
    edges, counts = np.array(hist["bins"]), np.array(hist["counts"], dtype=float)
    mid = (edges[:-1] + edges[1:]) / 2.0
    p = counts / counts.sum()
    mean = float((mid * p).sum())
    held = float((mid ** 2 * p).sum() / mean)
    points = [c for c in data["configurations"] if c["gpu_model"] == "H100" and c["num_gpus"] == 1]
    return sorted(points, key=lambda c: c["max_num_seqs"]), mean, held


def predict(values, point, prompt, mean, held) -> tuple[float, float, float]:
    chip = dataclasses.replace(CHIP_PRESETS["h100_sxm"], **dict(zip(FIELDS, values)))
    model = MODEL_PRESETS["llama-3.1-8b-bf16"]
    s = saturated(chip, model, round(point["avg_batch_size"]), prompt, mean, held)
    return s["tokens_per_s"], s["power_w"], s["tpot_s"] * 1e3


def error(values, points, prompt, mean, held) -> float:
    total = 0.0
    for pt in points:
        x, w, itl = predict(values, pt, prompt, mean, held)
        total += math.log(x / pt["output_throughput_tokens_per_sec"]) ** 2
        total += math.log(w / pt["avg_power_watts"]) ** 2
        total += math.log(itl / pt["median_itl_ms"]) ** 2
    return total


def fit(points, prompt, mean, held, seed: int = 1) -> np.ndarray:
    """Random starts, then a shrinking coordinate search inside BOUNDS."""
    rng = np.random.default_rng(seed)
    lo, hi = np.array(BOUNDS).T
    best, best_err = None, math.inf
    for _ in range(200):
        v = lo + (hi - lo) * rng.random(len(FIELDS))
        e = error(v, points, prompt, mean, held)
        if e < best_err:
            best, best_err = v, e
    step = (hi - lo) / 4.0
    while step.max() > 1e-5:
        moved = False
        for i in range(len(FIELDS)):
            for sign in (1.0, -1.0):
                v = best.copy()
                v[i] = min(max(v[i] + sign * step[i], lo[i]), hi[i])
                e = error(v, points, prompt, mean, held)
                if e < best_err:
                    best, best_err, moved = v, e, True
        if not moved:
            step /= 2.0
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--prompt-tokens", type=float, default=200.0)
    args = ap.parse_args()
    points, mean, held = load_points(args.json)
    calib = [p for p in points if p["max_num_seqs"] in CALIBRATION_BATCHES]
    values = fit(calib, args.prompt_tokens, mean, held)
    print("fit:", ", ".join(f"{f} = {v:.4g}" for f, v in zip(FIELDS, values)))
    print(f"output tokens mean {mean:.1f}, length-biased {held:.1f}; prompt {args.prompt_tokens:g} (assumed)")
    print("max batch | tok/s model / measured | W model / measured | ITL ms model / measured | "
          "J/token model / measured")
    for pt in points:
        x, w, itl = predict(values, pt, args.prompt_tokens, mean, held)
        tag = " (fit)" if pt["max_num_seqs"] in CALIBRATION_BATCHES else ""
        print(f"{pt['max_num_seqs']:>5}{tag:6} | {x:7.0f} / {pt['output_throughput_tokens_per_sec']:7.0f} "
              f"({x / pt['output_throughput_tokens_per_sec'] - 1:+.1%}) | {w:4.0f} / {pt['avg_power_watts']:4.0f} "
              f"({w / pt['avg_power_watts'] - 1:+.1%}) | {itl:5.1f} / {pt['median_itl_ms']:5.1f} "
              f"({itl / pt['median_itl_ms'] - 1:+.1%}) | {w / x:.3f} / {pt['energy_per_token_joules']:.3f} "
              f"({w / x / pt['energy_per_token_joules'] - 1:+.1%})")


if __name__ == "__main__":
    main()
