"""Fast-DL against classical denoisers: quality, lesion conspicuity, integrity and speed (issue 4).

    python bench/bench_denoiser.py [--quick] [--out bench/results/denoiser.txt]

Needs the ``bench`` extra (bm3d, pydicom-data). Peers, all applied to the same Fast input, with
the same noise estimate σ (:func:`recon.denoiser.estimate_noise_sigma`) and the image divided by
its 99.5th percentile:

* BM3D (Mäkinen, Azzari, Foi 2020; PyPI ``bm3d``), ``sigma_psd = σ``;
* scikit-image non-local means, ``h = 0.8 σ``, patch 5, distance 6, fast mode (skimage docs);
* scikit-image TV (Chambolle), ``weight = σ``;
* scikit-image wavelet, BayesShrink, soft, ``rescale_sigma`` (skimage docs).

Parts:
1. held-out phantom cases (recon worker, all three sequences): PSNR/SSIM vs Truth;
2. integrity (seed 003): SSIM / L1 of Fast vs Fast-DL and Standard vs Standard-DL;
3. lesion conspicuity: contrast and CNR of Schmorl nodes and disc herniations vs Truth;
4. the real 1024×1024 shoulder T1 ``MR2_UNCI`` (pydicom-data) with simulated Fast noise;
5. speed: seconds per slice and per 30-slice 384×384 series.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import ndimage  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, denoise_wavelet  # noqa: E402

from recon.denoiser import FAST_DL_ARMS, denoise_arms, estimate_noise_sigma  # noqa: E402
from recon.denoiser.inference import MODEL_PATH, predict_clean, volume_scale  # noqa: E402
from recon.denoiser.integrity import compare_volumes, fastdl_integrity  # noqa: E402

BENCH_SEEDS = (9101, 9102)
LESION_SEED = 9103
SEQUENCES = ("SAG T2 FS", "SAG T1", "AX T2")
PEERS = ("BM3D", "NLM", "TV", "wavelet")


def peer(name: str, volume: np.ndarray, sigma: float) -> np.ndarray:
    """One classical denoiser, slice by slice, on the volume divided by its 99.5th percentile."""
    import bm3d

    scale = volume_scale(volume)
    s = sigma / scale
    out = np.empty_like(volume, dtype=np.float32)
    for k, image in enumerate(np.asarray(volume, np.float32) / scale):
        if name == "BM3D":
            result = bm3d.bm3d(image, sigma_psd=s)
        elif name == "NLM":
            result = denoise_nl_means(image, h=0.8 * s, sigma=s, fast_mode=True, patch_size=5, patch_distance=6)
        elif name == "TV":
            result = denoise_tv_chambolle(image, weight=s)
        elif name == "wavelet":
            result = denoise_wavelet(image, sigma=s, method="BayesShrink", mode="soft", rescale_sigma=True)
        else:
            raise ValueError(name)
        out[k] = np.asarray(result, np.float32) * scale
    return out


def all_arms(fast: np.ndarray, sigma: float | None = None) -> dict[str, np.ndarray]:
    sigma = estimate_noise_sigma(fast) if sigma is None else sigma
    arms = {"Fast": fast, **denoise_arms(fast, sigma=sigma, num_threads=1)}
    for name in PEERS:
        arms[name] = peer(name, fast, sigma)
    return arms


def simulate(seed: int, sequence: str, slices: int, prevalence=None):
    from recon.pipeline import simulate_case

    return simulate_case(seed, sequence, slices=slices, prevalence=prevalence)


# --- 1 + 2: phantom quality and integrity -----------------------------------------------------

def phantom_quality(slices: int, seeds, log) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, integrity = [], []
    for seed in seeds:
        for sequence in SEQUENCES:
            sim = simulate(seed, sequence, slices)
            arms = {"Standard": sim.standard, **all_arms(sim.fast)}
            data_range = float(sim.truth.max() - sim.truth.min())
            for arm, volume in arms.items():
                rows.append({"seed": seed, "sequence": sequence, "arm": arm,
                             **compare_volumes(sim.truth, volume, data_range=data_range)})
            table = fastdl_integrity(
                fast=sim.fast, fast_dl={a: arms[a] for a in FAST_DL_ARMS},
                standard=sim.standard, standard_dl=denoise_arms(sim.standard, num_threads=1),
            )
            table.insert(0, "sequence", sequence)
            integrity.append(table)
            log(f"  phantom seed {seed} {sequence}: done")
    return pd.DataFrame(rows), pd.concat(integrity, ignore_index=True)


# --- 3: lesions ---------------------------------------------------------------------------------

def lesion_figures(slices: int, log) -> pd.DataFrame:
    """Contrast (lesion mean − surrounding ring mean) and CNR (contrast / SD of image − Truth in
    lesion ∪ ring) per lesion, for Truth, Fast and Fast-DL arms."""
    from recon.phantom import LABELS
    from recon.pipeline import cached_phantom
    from recon.phantom import sample_labels

    prevalence = {"schmorl_nodes": 1.0, "disc_herniation": 1.0}
    rows = []
    for sequence in SEQUENCES:
        sim = simulate(LESION_SEED, sequence, slices, prevalence=prevalence)
        labels = sample_labels(sim.phantom, sim.geometry)
        arms = {"Truth": sim.truth, "Fast": sim.fast, **denoise_arms(sim.fast, num_threads=1)}
        lesion_all = labels == LABELS["herniated_nucleus"]
        for k in range(labels.shape[0]):
            components, n = ndimage.label(lesion_all[k])
            for c in range(1, n + 1):
                lesion = ndimage.binary_erosion(components == c)
                if lesion.sum() < 8:
                    continue
                near = ndimage.binary_dilation(components == c, iterations=4)
                ring = near & ~ndimage.binary_dilation(components == c, iterations=1) & ~lesion_all[k]
                # Schmorl nodes sit in marrow; herniations bulge into the canal/epidural space.
                kind = "Schmorl node" if (labels[k][ring] == LABELS["marrow"]).mean() > 0.3 else "herniation"
                roi = lesion | ring
                for arm, volume in arms.items():
                    image = volume[k]
                    contrast = float(image[lesion].mean() - image[ring].mean())
                    noise = float(np.std((image - sim.truth[k])[roi])) if arm != "Truth" else float("nan")
                    rows.append({"sequence": sequence, "slice": k, "lesion": c, "kind": kind, "arm": arm,
                                 "pixels": int(lesion.sum()), "contrast": contrast, "cnr": abs(contrast) / noise if noise else float("nan")})
        log(f"  lesions {sequence}: done")
    table = pd.DataFrame(rows)
    truth = table[table.arm == "Truth"].set_index(["sequence", "slice", "lesion"])["contrast"]
    table = table.join(truth.rename("truth_contrast"), on=["sequence", "slice", "lesion"])
    table["contrast_vs_truth"] = table["contrast"] / table["truth_contrast"]
    table["within_10pct"] = (table["contrast_vs_truth"] - 1).abs() <= 0.10
    fast_cnr = table[table.arm == "Fast"].set_index(["sequence", "slice", "lesion"])["cnr"]
    table = table.join(fast_cnr.rename("fast_cnr"), on=["sequence", "slice", "lesion"])
    table["cnr_ge_fast"] = table["cnr"] >= table["fast_cnr"]
    return table


# --- 4: real image ------------------------------------------------------------------------------

def real_image(levels, log) -> pd.DataFrame:
    import pydicom
    from data_store import __file__ as data_store_init

    path = Path(data_store_init).parent / "data" / "MR2_UNCI.dcm"
    clean = pydicom.dcmread(path).pixel_array.astype(np.float32)
    data_range = float(clean.max() - clean.min())
    rng = np.random.default_rng(4)
    rows = []
    for level in levels:
        sigma = level * float(np.percentile(clean, 99.5))
        noisy = np.hypot(clean + rng.normal(0, sigma, clean.shape), rng.normal(0, sigma, clean.shape)).astype(np.float32)
        arms = all_arms(noisy[None])
        for arm, volume in arms.items():
            image = volume[0]
            rows.append({"noise": f"{level:.0%} of p99.5", "arm": arm,
                         "psnr": peak_signal_noise_ratio(clean, image, data_range=data_range),
                         "ssim": structural_similarity(clean, image, data_range=data_range)})
        log(f"  MR2_UNCI at σ = {level:.0%}: done")
    return pd.DataFrame(rows)


# --- 5: speed -----------------------------------------------------------------------------------

def speed(log, repeats: int = 2) -> dict[str, float]:
    import bm3d

    sim = simulate(BENCH_SEEDS[0], "SAG T2 FS", 2)
    series = np.concatenate([sim.fast] * 15)[:30]  # a 30-slice 384×384 series
    out = {}
    for threads in (1, 2):
        predict_clean(series[:2], num_threads=threads)  # warm the session
        best, best_cpu = float("inf"), float("inf")
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            denoise_arms(series, num_threads=threads)
            best, best_cpu = min(best, time.perf_counter() - t), min(best_cpu, time.process_time() - c)
        out[f"Fast-DL series (30×384×384, all 3 factors), {threads} thread(s), wall [s]"] = best
        out[f"Fast-DL series (30×384×384, all 3 factors), {threads} thread(s), CPU [s]"] = best_cpu
        out[f"Fast-DL per slice, {threads} thread(s), wall [ms]"] = best / 30 * 1000
    out["Fast-DL per slice, 1 thread, CPU [ms]"] = out["Fast-DL series (30×384×384, all 3 factors), 1 thread(s), CPU [s]"] / 30 * 1000
    sigma = estimate_noise_sigma(series[:2]) / volume_scale(series[:2])
    image = series[0] / volume_scale(series[:2])
    t, c = time.perf_counter(), time.process_time()
    bm3d.bm3d(image, sigma_psd=sigma)
    out["BM3D per slice (384×384), wall [ms]"] = (time.perf_counter() - t) * 1000
    out["BM3D per slice (384×384), CPU [ms]"] = (time.process_time() - c) * 1000
    out["BM3D / Fast-DL per-slice time, wall (1 thread)"] = out["BM3D per slice (384×384), wall [ms]"] / out["Fast-DL per slice, 1 thread(s), wall [ms]"]
    out["BM3D / Fast-DL per-slice time, CPU"] = out["BM3D per slice (384×384), CPU [ms]"] / out["Fast-DL per slice, 1 thread, CPU [ms]"]
    log("  speed: done")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one case, 2 slices (smoke run)")
    parser.add_argument("--slices", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "denoiser.txt")
    args = parser.parse_args(argv)
    slices = 2 if args.quick else args.slices
    seeds = BENCH_SEEDS[:1] if args.quick else BENCH_SEEDS
    report = io.StringIO()

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def emit(line: str = "") -> None:
        print(line, file=report)
        print(line, flush=True)

    fmt = lambda v: f"{v:.3f}"  # noqa: E731
    from recon.denoiser.export import read_metadata

    meta = read_metadata(MODEL_PATH)
    emit(f"Fast-DL benchmark — model {MODEL_PATH.name} ({meta.get('parameters')} parameters, width {meta.get('width')}, seed {meta.get('seed')})")
    emit(f"Machine: {os.cpu_count()} CPU cores; onnxruntime CPU; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    emit(f"Phantom: held-out seeds {list(seeds)}, {slices} central slices per case × sequence; metrics vs Truth, data range = Truth max − min")
    emit("Peers on Fast: " + ", ".join(PEERS) + " (parameters in the script's docstring)")
    emit()

    quality, integrity = phantom_quality(slices, seeds, log)
    summary = quality.groupby(["sequence", "arm"], sort=False)[["psnr", "ssim"]].mean().unstack("sequence")
    summary = summary.reindex(["Standard", "Fast", *FAST_DL_ARMS, *PEERS])
    emit("1. Phantom, PSNR [dB] / SSIM vs Truth (mean over cases)")
    emit(summary.to_string(float_format=fmt))
    emit()
    goals = []
    for sequence in SEQUENCES:
        q = quality[quality.sequence == sequence].groupby("arm")["psnr"].mean()
        best = max(FAST_DL_ARMS, key=lambda a: q[a])
        goals.append({"sequence": sequence, "best Fast-DL": best, "PSNR best": q[best], "Standard": q["Standard"],
                      "BM3D": q["BM3D"], "≥ Standard": q[best] >= q["Standard"], "≥ BM3D + 0.5 dB": q[best] >= q["BM3D"] + 0.5})
    emit("   Goals per sequence:")
    emit(pd.DataFrame(goals).to_string(index=False, float_format=fmt))
    emit()

    emit("2. Integrity (seed 003): Fast vs Fast-DL, Standard vs Standard-DL (mean over cases; data range = reference max − min)")
    emit(integrity.groupby(["sequence", "reference", "test"], sort=False)[["ssim", "l1", "l1_rel"]].mean().to_string(float_format=fmt))
    emit()

    lesions = lesion_figures(slices, log)
    emit(f"3. Lesion conspicuity (seed {LESION_SEED}, Schmorl nodes and herniations forced present; contrast = lesion − ring mean,")
    emit("   CNR = contrast / SD(image − Truth) over lesion ∪ ring; contrast_vs_truth goal: within 0.90–1.10; CNR goal: ≥ Fast)")
    if len(lesions):
        grouped = lesions.groupby(["kind", "arm"], sort=False).agg(
            n=("contrast", "size"), contrast_vs_truth_median=("contrast_vs_truth", "median"),
            share_within_10pct=("within_10pct", "mean"), cnr_mean=("cnr", "mean"), share_cnr_ge_fast=("cnr_ge_fast", "mean"))
        emit(grouped.to_string(float_format=fmt))
    else:
        emit("   (no lesion of ≥ 8 pixels in the simulated slices)")
    emit()

    real = real_image((0.03, 0.06) if not args.quick else (0.06,), log)
    emit("4. Real image MR2_UNCI (1024×1024 shoulder T1, pydicom-data) + Rician noise; PSNR [dB] / SSIM vs the original, data range = its max − min")
    emit(real.set_index(["noise", "arm"]).unstack("noise").reindex(["Fast", *FAST_DL_ARMS, *PEERS]).to_string(float_format=fmt))
    emit()

    emit("5. Speed (best of 2; wall clock on a shared, oversubscribed 2-core machine is an upper bound, CPU time is the compute)")
    for key, value in speed(log).items():
        emit(f"   {key}: {value:.2f}")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report.getvalue())
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
