"""python manage.py recon_phantom --cases N --seed S --out DIR

Writes DIR/<case>/<sequence>/<arm>/*.dcm (Truth, Standard, Fast and every registered
post-processing arm), DIR/manifest.csv and DIR/reference_standard.csv. No database needed.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from recon.export import export_phantom_cases
from recon.protocols import DEFAULT_PROTOCOL_SET


class Command(BaseCommand):
    help = "Simulate phantom cases and write Truth/Standard/Fast DICOM series with a manifest and reference standard."

    def add_arguments(self, parser):
        parser.add_argument("--cases", type=int, required=True)
        parser.add_argument("--seed", type=int, required=True)
        parser.add_argument("--out", required=True)
        parser.add_argument("--protocol-set", default=DEFAULT_PROTOCOL_SET)
        parser.add_argument("--sequences", nargs="*", help="subset of the protocol set's sequences")
        parser.add_argument("--arms", nargs="*", help="default: Truth, the protocol arms and registered arms")
        parser.add_argument("--matrix", type=int, help="smaller recon matrix (previews, tests)")
        parser.add_argument("--slices", type=int, help="fewer slices (previews, tests)")
        parser.add_argument("--spacing-mm", type=float, default=0.8, help="phantom voxel size")

    def handle(self, *args, **opts):
        out = Path(opts["out"])
        if out.exists() and any(out.iterdir()):
            raise CommandError(f"{out} exists and is not empty")
        started = time.monotonic()
        try:
            manifest, reference = export_phantom_cases(
                out, cases=opts["cases"], seed=opts["seed"], protocol_set=opts["protocol_set"],
                sequences=opts["sequences"], arms=opts["arms"], recon_matrix=opts["matrix"],
                slices=opts["slices"], spacing_mm=opts["spacing_mm"],
                progress=lambda pct, msg: self.stdout.write(f"[{pct:3d}%] {msg}"),
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"wrote {len(manifest)} series of {opts['cases']} cases, {len(reference)} reference rows "
            f"to {out} in {time.monotonic() - started:.1f} s"
        ))
