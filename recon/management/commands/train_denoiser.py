"""``python manage.py train_denoiser``: retrain Fast-DL from scratch, export ONNX, print validation.

Thin wrapper around :func:`recon.denoiser.train.run`; needs the ``train`` extra (torch).
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError


def _seeds(text: str) -> tuple[int, ...]:
    """"1001-1010" or "1001,1002"."""
    seeds: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            seeds += range(int(lo), int(hi) + 1)
        elif part.strip():
            seeds.append(int(part))
    return tuple(seeds)


class Command(BaseCommand):
    help = ("Retrain the Fast-DL denoiser from scratch (fixed seed) on recon-worker phantom cases and the real MR "
            "training sources of installed packages (recon.denoiser.realmr), and export ONNX.")

    def add_arguments(self, parser):
        from recon.denoiser.inference import MODEL_PATH
        from recon.denoiser.train import RunSpec, TrainingConfig

        c, s = TrainingConfig(), RunSpec()
        parser.add_argument("--seed", type=int, default=c.seed, help="training seed (weights, patches, synthetic noise)")
        parser.add_argument("--steps", type=int, default=c.steps)
        parser.add_argument("--width", type=int, default=c.width, help="channels at the first U-Net level")
        parser.add_argument("--res-blocks", type=int, default=c.n_res_blocks, help="residual blocks at the U-Net's bottom")
        parser.add_argument("--batch-size", type=int, default=c.batch_size)
        parser.add_argument("--patch", type=int, default=c.patch, help="patch size (multiple of 8)")
        parser.add_argument("--lr", type=float, default=c.learning_rate)
        parser.add_argument("--min-lr", type=float, default=c.min_learning_rate, help="end of the cosine schedule")
        parser.add_argument("--real-realizations", type=int, default=c.real_realizations,
                            help="noisy copies per real MR source (at least 2 per slice)")
        parser.add_argument("--air-loss-weight", type=float, default=c.air_loss_weight,
                            help="loss weight of pixels whose reference is within 2σ of 0 (air)")
        parser.add_argument("--n2n-weight", type=float, default=c.n2n_weight, help="fraction of Noise2Noise batches (0 = supervised only)")
        parser.add_argument("--synthetic-per-case", type=int, default=c.synthetic_per_case, help="noisy copies of each phantom case's Truth (per slice with --phantom-pairs noise)")
        parser.add_argument("--real-fraction", type=float, default=c.real_fraction,
                            help="fraction of training patches from real MR sources (0 = phantom only)")
        parser.add_argument("--phantom-pairs", choices=("recon", "noise"), default=c.phantom_pairs,
                            help="phantom share: recon (Fast/Standard/NEX-1 → Truth + white synthetic) or noise "
                                 "(Truth + the real pairs' magnitude noise kinds only)")
        parser.add_argument("--real-sources", default=",".join(c.real_sources) if c.real_sources else "installed",
                            help='comma-separated real MR training sources (recon.denoiser.realmr), or "installed" for every installed one')
        parser.add_argument("--real-downscale", type=float, default=c.real_downscale_probability,
                            help="probability that a real slice's noisy copy is made from the slice shrunk 1.25–2.5×")
        parser.add_argument("--threads", type=int, default=c.threads, help="torch threads (at most 2 on a shared machine)")
        parser.add_argument("--train-seeds", default=f"{s.train_seeds[0]}-{s.train_seeds[-1]}", help='phantom case seeds, e.g. "1001-1010"')
        parser.add_argument("--validation-seeds", default=",".join(map(str, s.validation_seeds)))
        parser.add_argument("--slices", type=int, default=s.slices, help="central slices simulated per case × sequence")
        parser.add_argument("--out", type=Path, default=MODEL_PATH, help=f"ONNX file to write (default {MODEL_PATH})")
        parser.add_argument("--cache-dir", type=Path, default=None, help="reuse/save simulated cases here")
        parser.add_argument("--checkpoint", type=Path, default=None,
                            help="save the training state here and resume from it if it exists (a run stopped and "
                                 "restarted with the same options gives the same weights)")
        parser.add_argument("--checkpoint-every", type=int, default=s.checkpoint_every, help="steps between checkpoints")

    def handle(self, *args, **opts):
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise CommandError("train_denoiser needs PyTorch: pip install -e '.[train]'") from exc
        from recon.denoiser.train import RunSpec, TrainingConfig, TrainingSourceError, run

        if opts["patch"] % 8:
            raise CommandError("--patch must be a multiple of 8")
        if not 0.0 <= opts["real_fraction"] <= 1.0:
            raise CommandError("--real-fraction must be in [0, 1]")
        if opts["threads"] < 1:
            raise CommandError("--threads must be at least 1")
        if opts["checkpoint_every"] < 1:
            raise CommandError("--checkpoint-every must be at least 1")
        config = TrainingConfig(
            seed=opts["seed"], steps=opts["steps"], width=opts["width"], n_res_blocks=opts["res_blocks"], batch_size=opts["batch_size"],
            patch=opts["patch"], learning_rate=opts["lr"], min_learning_rate=opts["min_lr"], threads=opts["threads"],
            n2n_weight=opts["n2n_weight"], real_realizations=opts["real_realizations"],
            air_loss_weight=opts["air_loss_weight"],
            synthetic_per_case=opts["synthetic_per_case"], real_fraction=opts["real_fraction"],
            phantom_pairs=opts["phantom_pairs"],
            real_downscale_probability=opts["real_downscale"],
            real_sources=None if opts["real_sources"] == "installed" else tuple(n for n in opts["real_sources"].split(",") if n),
        )
        spec = RunSpec(
            train_seeds=_seeds(opts["train_seeds"]), validation_seeds=_seeds(opts["validation_seeds"]),
            slices=opts["slices"], output=opts["out"], cache_dir=opts["cache_dir"],
            checkpoint=opts["checkpoint"], checkpoint_every=opts["checkpoint_every"],
        )
        if set(spec.train_seeds) & set(spec.validation_seeds):
            raise CommandError("training and validation seeds overlap")

        def log(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        try:
            run(spec, config, log=log)  # checks the real sources before it simulates anything
        except TrainingSourceError as exc:
            raise CommandError(str(exc)) from exc
