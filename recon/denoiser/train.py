"""Train Fast-DL from scratch on phantom cases and real MR, export ONNX, report validation.

Needs the ``train`` extra (torch, onnx, and the packages holding the real MR sources). Entry
point: :func:`run` (the ``train_denoiser`` management command is a thin wrapper). Everything is
seeded; with the same seed, thread count, installed sources and torch build a rerun reproduces
the committed model.

Training slices, drawn per patch from two weighted groups (``real_fraction``):

* **real MR** (:mod:`recon.denoiser.realmr`, the sources whose role is "training"; the validation
  sources are never read here): each slice plus magnitude noise of a random σ (1–12 % of its
  99.5th percentile) and a random pattern (white Rician, partial-Fourier-correlated, parallel
  imaging g-factor map), sometimes after a slight blur (:func:`recon.denoiser.data.real_training_slices`);
* **phantom** (:mod:`recon.denoiser.data`, the recon worker's own cases): with ``phantom_pairs``
  "recon", Fast, Standard and both NEX-1 reconstructions → Truth, and Truth plus Rician noise at
  fixed levels; with "noise", only Truth plus magnitude noise of the real pairs' kinds
  (:func:`recon.denoiser.data.phantom_noise_slices`). The shipped model: half real, half phantom "noise".

Each slice carries the noise level that :func:`recon.denoiser.inference.estimate_noise_sigma`
finds in its noisy input, so the network is normalised exactly as at inference time (it divides
its input by σ: :mod:`recon.denoiser.network`). Patches get one of the 8 rot90/flip symmetries;
intensities are divided by the noisy slice's 99.5th percentile; the loss is the squared error in
units of σ (every noise level weighs alike; the minimiser is the conditional mean).

References
----------
Zhang K, Zuo W, Zhang L. FFDNet: Toward a fast and flexible solution for CNN-based image
denoising. IEEE Trans Image Process 2018;27(9):4608–4622.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from recon.denoiser.data import PairSet
from recon.denoiser.inference import MODEL_PATH


@dataclass
class TrainingConfig:
    """Everything that determines the trained model."""

    seed: int = 20260421
    width: int = 32
    n_res_blocks: int = 2
    patch: int = 64
    batch_size: int = 16
    steps: int = 16000
    learning_rate: float = 1e-3
    min_learning_rate: float = 1e-5
    threads: int = 2
    synthetic_levels: tuple[float, ...] = (0.02, 0.04, 0.07, 0.11)
    synthetic_per_case: int = 2  # synthetic-noise copies of each training case's Truth
    # Fraction of batches' patches drawn from the real MR sources (recon.denoiser.realmr), the rest
    # from the phantom cases. 1.0 (real MR only): with the phantom pairs in the mix (0.6), whose
    # error against Truth is mostly structured (partial Fourier, resolution) and, in units of the
    # estimated σ, about 4× a white-noise pair's, the network learned the phantom's corrections
    # and left white noise in place (flat-tissue removal ≈ 0 after 7000 steps; issue 13 notes).
    # 0.5 since 2026-11-30, with phantom_pairs "noise" (Truth + the real pairs' noise kinds only,
    # no structured error): phantom better on all three sequences, real MR −0.12 dB on average.
    real_fraction: float = 0.5
    # Which phantom pairs the phantom share (1 − real_fraction) draws from: "recon" (Fast, Standard,
    # both NEX-1 → Truth, and Truth + white Rician at synthetic_levels) or "noise" (only Truth +
    # magnitude noise of the real pairs' kinds, synthetic_per_case copies per slice:
    # recon.denoiser.data.phantom_noise_slices).
    phantom_pairs: str = "noise"
    real_realizations: int = 120  # noisy copies per real source (at least 2 per slice)
    # Added noise SD of the real pairs and of the phantom Truth + noise pairs, as fractions of
    # the slice's 99.5th percentile (log-uniform; recon.denoiser.data).
    real_sigma_range: tuple[float, float] = (0.01, 0.12)
    phantom_sigma_range: tuple[float, float] = (0.004, 0.06)
    # Real patches drawn per source (each installed training source weighs alike) instead of per
    # slice (the MNI template's 282 slices would otherwise give it 37 % of the real patches).
    balance_real_sources: bool = False
    # The noise added to a real slice is at least this multiple of the slice's own noise
    # (recon.denoiser.data.OWN_NOISE_MARGIN).
    own_noise_margin: float = 2.0
    # Real slices whose own noise exceeds this fraction of their 99.5th percentile are not used
    # (None: all are used).
    max_own_noise: float | None = None
    # The real MR training sources, in order (recon.denoiser.realmr names, role "training"); every
    # one must be installed, so a run on a machine without one fails instead of quietly training a
    # different model. None: whichever training sources are installed.
    # Since 2026-11-30 (third model of issue 13): the ICBM template (an average of 152 brains, smooth)
    # out, Colin27 (one subject) and the ITK abdomen in; in 1000-step pilots the swap changed the
    # held-out real MR by −0.05 to +0.03 dB (within seed noise).
    real_sources: tuple[str, ...] | None = (
        "siemens_abdomen", "dipy_s0", "dipy_piesno", "nibabel_example4d", "pydicom_emri", "colin27_t1", "itk_fat_mri",
    )
    # Probability that a real slice's noisy copy is made from the slice shrunk by a factor in
    # real_downscale_range (recon.denoiser.data.real_training_slices); 0 leaves the sampling as before.
    real_downscale_probability: float = 0.0
    real_downscale_range: tuple[float, float] = (1.25, 2.5)
    air_loss_weight: float = 0.1  # loss weight of pixels whose reference is within 2σ of 0
    n2n_weight: float = 0.0  # kept for the metadata; Noise2Noise is not used (biased on RSS magnitude)
    log_every: int = 200


class _PatchSampler:
    """Random patches from groups of (noisy, clean, sigma_n) slices of any size ≥ the patch.

    A group is drawn with its weight, then a slice uniformly, then a patch (up to 4 tries for a
    patch whose reference has some signal), then one of the 8 rot90/flip symmetries.
    """

    def __init__(self, groups: list[tuple[str, list[tuple[np.ndarray, np.ndarray, float]], float]],
                 patch: int, rng: np.random.Generator):
        self.groups = [(name, pairs) for name, pairs, weight in groups if pairs and weight > 0]
        weights = np.array([weight for _, pairs, weight in groups if pairs and weight > 0], float)
        if not self.groups:
            raise ValueError("no training slices")
        self.weights = weights / weights.sum()
        self.patch, self.rng = patch, rng
        # Slices smaller than the patch are reflect-padded to it (only with patches above 64).
        self.groups = [(name, [_padded(x, y, s, patch) for x, y, s in pairs]) for name, pairs in self.groups]

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, rng = self.patch, self.rng
        xs = np.empty((n, 1, p, p), np.float32)
        ys = np.empty((n, 1, p, p), np.float32)
        ss = np.empty((n, 1), np.float32)
        for k in range(n):
            _, pairs = self.groups[int(rng.choice(len(self.groups), p=self.weights))]
            noisy, clean, sigma = pairs[int(rng.integers(len(pairs)))]
            h, w = noisy.shape
            for _ in range(4):  # prefer patches that contain some signal
                r, c = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
                y = clean[r : r + p, c : c + p]
                if y.mean() > 0.05:
                    break
            x = noisy[r : r + p, c : c + p]
            turns, flip = int(rng.integers(4)), bool(rng.integers(2))
            x, y = np.rot90(x, turns), np.rot90(y, turns)
            if flip:
                x, y = x[:, ::-1], y[:, ::-1]
            xs[k, 0], ys[k, 0], ss[k, 0] = x, y, sigma
        return xs, ys, ss


def _padded(noisy: np.ndarray, clean: np.ndarray, sigma: float, patch: int):
    h, w = noisy.shape
    if h >= patch and w >= patch:
        return noisy, clean, sigma
    pad = ((0, max(patch - h, 0)), (0, max(patch - w, 0)))
    mode = "reflect" if patch - h < h and patch - w < w else "symmetric"
    return np.pad(noisy, pad, mode=mode), np.pad(clean, pad, mode=mode), sigma


def pairset_slices(pairs: PairSet) -> list[tuple[np.ndarray, np.ndarray, float]]:
    return [(pairs.inputs[i], pairs.targets[i], float(pairs.sigmas[i])) for i in range(len(pairs))]


def train_network(
    groups: list[tuple[str, list[tuple[np.ndarray, np.ndarray, float]], float]],
    config: TrainingConfig,
    *,
    log: Callable[[str], None] = print,
    checkpoint: Path | None = None,
    checkpoint_every: int = 200,
):
    """Fit a fresh :class:`FastDLNet` on weighted groups of slices; return (model, seconds).

    With ``checkpoint`` the run saves its whole state (weights, Adam moments, schedule, the patch
    sampler's random state, step, seconds so far) there every ``checkpoint_every`` steps and at the
    end, and a run that finds the file resumes from it: a run stopped at any point and restarted
    with the same groups and config gives the same weights as one run through (tested), so a long
    run can be done in pieces. A checkpoint of another config is refused. ``seconds`` is the
    training time of all pieces together.
    """
    import torch

    from recon.denoiser.network import FastDLNet, count_parameters

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    rng = np.random.default_rng(config.seed)
    model = FastDLNet(config.width, config.n_res_blocks)
    log(f"FastDLNet(width={config.width}, res_blocks={config.n_res_blocks}): {count_parameters(model):,} parameters")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps, eta_min=config.min_learning_rate)
    sampler = _PatchSampler(groups, config.patch, rng)
    first, before = 1, 0.0
    if checkpoint is not None and Path(checkpoint).exists():
        state = torch.load(checkpoint, weights_only=True)
        if state["config"] != config_json(config):
            raise ValueError(f"checkpoint {checkpoint} is of another training config; remove it or pass that config")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        rng.bit_generator.state = state["sampler_rng"]
        torch.set_rng_state(state["torch_rng"])
        first, before = int(state["step"]) + 1, float(state["seconds"])
        log(f"resumed from {checkpoint} after step {first - 1} ({before:.0f} s of training so far)")
    started = time.perf_counter() - before
    running = 0.0

    def save(step: int) -> None:
        target = Path(checkpoint)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        torch.save({"config": config_json(config), "step": step, "seconds": time.perf_counter() - started,
                    "model": model.state_dict(), "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                    "sampler_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state()}, partial)
        os.replace(partial, target)  # a run killed while saving leaves the previous checkpoint whole

    model.train()
    for step in range(first, config.steps + 1):
        x, y, s = sampler.batch(config.batch_size)
        x_t, y_t, s_t = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(s)
        pred = model(x_t, s_t)
        # Squared error in units of each patch's σ: every noise level weighs alike, and the
        # minimiser is the conditional mean (an L1 loss would learn the median, which for
        # magnitude noise keeps low-frequency noise and a Rician offset). Air and tissue within
        # 2σ of 0 weigh config.air_loss_weight: there inference does not use the estimate
        # (recon.denoiser.inference.air_floor), and at full weight the easy Rayleigh floor of
        # the background dominates the loss and the network learns tissue noise far later.
        sigma_t = s_t.reshape(-1, 1, 1, 1)
        weight = torch.where(y_t > 2.0 * sigma_t, 1.0, config.air_loss_weight)
        loss = torch.sum(weight * ((pred - y_t) / sigma_t) ** 2) / torch.sum(weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        running += float(loss.detach())
        if checkpoint is not None and (step % checkpoint_every == 0 or step == config.steps):
            save(step)
        if step % config.log_every == 0 or step == config.steps:
            elapsed = time.perf_counter() - started
            log(f"step {step:5d}/{config.steps}  loss {running / config.log_every:.5f}  "
                f"lr {schedule.get_last_lr()[0]:.2e}  {elapsed:6.0f} s")
            running = 0.0
    return model.eval(), time.perf_counter() - started


def default_output() -> Path:
    return MODEL_PATH


def config_json(config: TrainingConfig) -> str:
    return json.dumps(asdict(config), sort_keys=True)


def psnr_gain_text(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.2f}"


# --------------------------------------------------------------------------------------------
# End to end: simulate → train → export → validate


@dataclass
class RunSpec:
    """What one ``train_denoiser`` run simulates and where it writes."""

    train_seeds: tuple[int, ...] = tuple(range(1001, 1011))
    validation_seeds: tuple[int, ...] = (9001, 9002)
    slices: int = 4
    output: Path = MODEL_PATH
    cache_dir: Path | None = None
    checkpoint: Path | None = None  # resumable training state (train_network); not part of the model
    checkpoint_every: int = 200


def validate(model_path: Path, cases, *, log: Callable[[str], None] = print):
    """Per validation case × sequence: PSNR/SSIM vs Truth of Standard, Fast and Fast-DL arms.

    Runs the exported ONNX model through the same path as the recon worker
    (:func:`recon.denoiser.inference.denoise_arms`). Returns a tidy DataFrame.
    """
    import pandas as pd

    from recon.denoiser.inference import denoise_arms
    from recon.quality import compare_volumes

    factors = {"Fast-DL25": 0.25, "Fast-DL50": 0.5, "Fast-DL75": 0.75, "Fast-DL100": 1.0}
    rows = []
    for case in cases:
        volumes = {"Standard": case.standard, "Fast": case.fast}
        volumes |= denoise_arms(case.fast, factors, model_path=model_path, num_threads=1)
        rng_truth = float(case.truth.max() - case.truth.min())
        for arm, volume in volumes.items():
            figures = compare_volumes(case.truth, volume, data_range=rng_truth)
            residual = float(np.std(volume - case.truth))
            rows.append({"seed": case.seed, "sequence": case.sequence, "arm": arm, **figures, "residual_sd": residual})
    table = pd.DataFrame(rows)
    summary = table.groupby(["sequence", "arm"], sort=False)[["psnr", "ssim", "nmse", "residual_sd"]].mean()
    log("Validation (held-out cases, mean over cases; vs Truth, data range = Truth max − min):")
    log(summary.to_string(float_format=lambda v: f"{v:.4f}"))
    return table


class TrainingSourceError(LookupError):
    """A named real MR training source is unknown, not a training source, or not installed."""


def training_source_names(names: tuple[str, ...] | None) -> list[str]:
    """The real training sources a run reads: ``names`` (each checked: known, a training source,
    installed; :class:`TrainingSourceError` otherwise) or, with None, every installed training source."""
    from recon.denoiser.realmr import SOURCES, available_sources

    if names is None:
        return available_sources("training")
    for name in names:
        if name not in SOURCES:
            raise TrainingSourceError(f"unknown real MR source {name!r} (known: {', '.join(SOURCES)})")
        if SOURCES[name].role != "training":
            raise TrainingSourceError(f"{name!r} is a {SOURCES[name].role} source; training never reads it")
    installed = set(available_sources("training"))
    for name in names:
        if name not in installed:
            raise TrainingSourceError(f"real MR training source {name!r} is not installed: it comes with {SOURCES[name].package}")
    return list(names)


def run(spec: RunSpec, config: TrainingConfig, *, log: Callable[[str], None] = print) -> dict:
    """Simulate training and validation cases, train from scratch, export ONNX, validate."""
    from recon.denoiser import data
    from recon.denoiser.export import export_onnx
    from recon.denoiser.network import count_parameters

    started = time.perf_counter()
    real_names = training_source_names(config.real_sources)  # before minutes of simulation

    def cases_for(name: str, seeds: tuple[int, ...], noise_scales: tuple[float, ...]):
        cache = spec.cache_dir / f"{name}_{'-'.join(map(str, seeds))}_s{spec.slices}.npz" if spec.cache_dir else None
        if cache is not None and cache.exists():
            log(f"{name} cases from cache {cache}")
            return data.load_cases(cache)
        log(f"Simulating {name} cases with the recon worker ({len(seeds)} seeds × {len(data.SEQUENCES)} sequences, {spec.slices} slices):")
        cases = data.generate_cases(seeds, slices=spec.slices, noise_scales=noise_scales, log=log)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            data.save_cases(cache, cases)
        return cases

    train_cases = cases_for("training", spec.train_seeds, data.NOISE_SCALES)
    validation_cases = cases_for("validation", spec.validation_seeds, (1.0,))
    simulated = time.perf_counter() - started
    if config.phantom_pairs == "noise":
        phantom = data.phantom_noise_slices(train_cases, seed=config.seed + 2, per_slice=config.synthetic_per_case,
                                            sigma_range=tuple(config.phantom_sigma_range))
    elif config.phantom_pairs == "recon":
        supervised, _ = data.training_pairs(
            train_cases, seed=config.seed, synthetic_levels=config.synthetic_levels, synthetic_per_case=config.synthetic_per_case
        )
        phantom = pairset_slices(supervised)
    else:
        raise ValueError(f"phantom_pairs must be 'recon' or 'noise', not {config.phantom_pairs!r}")
    log(f"Real MR training sources: {', '.join(real_names) or 'none installed'}")
    real, counts = data.real_training_slices(real_names, seed=config.seed + 1, realizations=config.real_realizations,
                                             sigma_range=tuple(config.real_sigma_range),
                                             own_noise_margin=config.own_noise_margin,
                                             downscale_probability=config.real_downscale_probability,
                                             downscale_range=tuple(config.real_downscale_range),
                                             max_own_noise=config.max_own_noise, log=log)
    log(f"Training slices: {len(phantom)} phantom ({config.phantom_pairs}), {len(real)} real; simulation {simulated:.0f} s")
    groups = [("phantom", phantom, 1.0 - config.real_fraction if real else 1.0)]
    if config.balance_real_sources and real:
        start = 0
        for name in real_names:  # real_training_slices keeps the sources' order
            n = counts[name]
            groups.append((f"real:{name}", real[start : start + n], config.real_fraction / len(real_names)))
            start += n
    else:
        groups.append(("real", real, config.real_fraction))
    model, seconds = train_network(groups, config, log=log, checkpoint=spec.checkpoint,
                                   checkpoint_every=spec.checkpoint_every)
    meta = {
        "architecture": "FastDLNet: input / sigma → pixel-unshuffle(2) → 3-level residual U-Net → pixel-shuffle; output = input − sigma · predicted noise",
        "width": str(config.width),
        "n_res_blocks": str(config.n_res_blocks),
        "parameters": str(count_parameters(model)),
        "seed": str(config.seed),
        "training_config": config_json(config),
        "train_seeds": ",".join(map(str, spec.train_seeds)),
        "validation_seeds": ",".join(map(str, spec.validation_seeds)),
        "real_training_sources": json.dumps(counts, sort_keys=True),
        "slices_per_case": str(spec.slices),
        "training_seconds": f"{seconds:.0f}",
        "factor_semantics": "Fast-DL(r) = x + w(r, sigma)·(max(f(x), 0) − x); w calibrated so r of the flat-tissue noise SD is removed; r=0 identity",
    }
    path = export_onnx(model, spec.output, metadata=meta)
    log(f"Exported {path} ({path.stat().st_size / 1e6:.2f} MB)")
    table = validate(path, validation_cases, log=log)
    total = time.perf_counter() - started
    log(f"Total {total:.0f} s (simulation {simulated:.0f} s, training {seconds:.0f} s)")
    return {"model_path": path, "validation": table, "training_seconds": seconds, "total_seconds": total, "model": model}
