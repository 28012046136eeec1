"""Benchmark of the full ``analyze`` run (read CSV → every table incl. the MRMC jackknife → write).

Paper-sized study: 18 cases × 3 sequences × 5 arms × 3 readers × 5 items (4 Likert + artifacts),
plus 8 findings × 6 levels, a confidence rating, ROI measurements and a preference item.
10× study: 180 cases and 10 readers, same design. Targets (issue 5): ≤ 2 s and ≤ 30 s.

    python bench/bench_analysis.py [--repeat 3]

Prints wall times and writes them to ``bench/results/analysis.txt``.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from readerstudy.analysis.config import load_config  # noqa: E402
from readerstudy.analysis.runner import run_analysis, write_results  # noqa: E402
from readerstudy.analysis.tidy import read_answers_csv, read_reference_csv  # noqa: E402
from tests.analysis.data.generate import CONFIG_TOML, make_study  # noqa: E402

ARMS = {"Standard": 0.0, "Fast": -0.7, "Fast-DL25": -0.1, "Fast-DL50": 0.1, "Fast-DL75": 0.2}
LIKERT = ("snr", "confidence_dx", "anatomy", "overall")
LEVELS = ("L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1", "S1")
EXTRA = "".join(f'\n[items.{i}]\nkind = "likert"\nscale = [1, 5]\nmargin = -0.5\ndirection = "greater"\n'
                for i in LIKERT if i not in ("snr", "confidence_dx"))
FINDINGS = "".join(f'\n[items.finding{k}]\nkind = "finding"\n' for k in range(2, 9))


def one_run(folder: Path) -> tuple[float, dict]:
    out = folder / "out"
    c0 = time.process_time()
    t0 = time.perf_counter()
    cfg = load_config(folder / "analysis.toml")
    answers = read_answers_csv(folder / "answers.csv")
    ref = read_reference_csv(folder / "reference.csv")
    t_read = time.perf_counter()
    result = run_analysis(answers, cfg, ref)
    t_run = time.perf_counter()
    write_results(result, out)
    t_end = time.perf_counter()
    steps = {"read": t_read - t0, **result.meta["timings_s"], "write": t_end - t_run,
             "_cpu": time.process_time() - c0}
    return t_end - t0, steps


def prepare(folder: Path, n_cases: int, n_readers: int) -> int:
    answers, ref = make_study(n_cases=n_cases, n_readers=n_readers, sequences=("SAG T2 FS", "SAG T1", "AX T2"),
                              levels=LEVELS, arms=ARMS, n_findings=8, likert_items=LIKERT, seed=11)
    answers.to_csv(folder / "answers.csv", index=False)
    ref.to_csv(folder / "reference.csv", index=False)
    (folder / "analysis.toml").write_text(CONFIG_TOML.split("[derived")[0] + EXTRA + FINDINGS + "[derived" +
                                          CONFIG_TOML.split("[derived", 1)[1])
    tomllib.loads((folder / "analysis.toml").read_text())
    return len(answers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lines = [f"# analyze benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
             f"# {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
             f"load average {os.getloadavg()[0]:.1f} at start (machine shared)"]
    for label, cases, readers, target in (("paper-sized", 18, 3, 2.0), ("10x", 180, 10, 30.0)):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            n = prepare(folder, cases, readers)
            runs = [one_run(folder) for _ in range(args.repeat)]
            times = [r[0] for r in runs]
            best, worst = min(times), max(times)
            steps = dict(min(runs, key=lambda r: r[0])[1])
            cpu = min(r[1]["_cpu"] for r in runs)
            steps.pop("_cpu")
            top = sorted(steps.items(), key=lambda kv: -kv[1])[:6]
            lines.append(f"{label}: {cases} cases x {readers} readers x 5 arms x 3 sequences, {n} answers: "
                         f"wall best {best:.2f} s, worst {worst:.2f} s over {args.repeat} runs (target <= {target:.0f} s); "
                         f"CPU time of the process {cpu:.2f} s; load average now {os.getloadavg()[0]:.1f}")
            lines.append("  slowest steps of the best run: " + ", ".join(f"{k} {v:.2f} s" for k, v in top))
            print("\n".join(lines[-2:]), flush=True)
    out = ROOT / "bench" / "results" / "analysis.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
