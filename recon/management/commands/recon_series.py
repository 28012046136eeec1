"""python manage.py recon_series SOURCE --out OUT --from {standard,fast,kspace} [--sequence NAME]
[--protocol-set NAME] [--noise-sd SD]

SOURCE is a DICOM series folder (``standard``, ``fast``) or an HDF5 file (fastMRI or ISMRMRD,
``kspace``). Writes one DICOM folder per arm made (``Standard`` for ``kspace``, ``Fast``,
``Fast-DL25``, ``Fast-DL50``, ``Fast-DL75``), ``OUT/manifest.csv`` (``case,sequence,arm,path,slices``,
an import mapping, paths relative to OUT) and ``OUT/recon.json`` (``noise_sd`` per receive channel in
the source's stored pixel units, and how it was obtained). No database needed. On any error: a
message, exit status 1, and nothing under OUT.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from recon.protocols import DEFAULT_PROTOCOL_SET
from recon.realdata import KINDS, recon_series


class Command(BaseCommand):
    help = "Reconstruct the arms of one real series (Standard DICOM, scanner Fast DICOM or raw k-space) into DICOM folders with a manifest."

    def add_arguments(self, parser):
        parser.add_argument("source", help="DICOM series folder, or a fastMRI/ISMRMRD HDF5 file for --from kspace")
        parser.add_argument("--out", required=True, help="output folder (must not exist or be empty)")
        parser.add_argument("--from", dest="kind", required=True, choices=KINDS)
        parser.add_argument("--sequence", help="protocol sequence, e.g. 'SAG T2 FS' (default: the series description)")
        parser.add_argument("--protocol-set", default=DEFAULT_PROTOCOL_SET, help=f"protocol set (default {DEFAULT_PROTOCOL_SET!r}: seed 000's lumbar protocols)")
        parser.add_argument("--noise-sd", type=float, help="noise SD per receive channel in stored pixel units (default: measured in the air)")
        parser.add_argument("--case", help="case label in the manifest (default: a pseudonym from the StudyInstanceUID)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the simulated Fast noise")

    def handle(self, *args, **opts):
        started = time.monotonic()
        try:
            rows = recon_series(
                opts["source"], opts["out"], kind=opts["kind"], sequence=opts["sequence"],
                protocol_set_name=opts["protocol_set"], noise_sd=opts["noise_sd"], case=opts["case"], seed=opts["seed"],
                progress=lambda pct, msg: self.stdout.write(f"[{pct:3d}%] {msg}"),
            )
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"wrote {', '.join(r['arm'] for r in rows)} ({rows[0]['slices']} slices each) to {opts['out']} "
            f"in {time.monotonic() - started:.1f} s"
        ))
