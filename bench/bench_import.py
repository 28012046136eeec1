"""Import throughput of a 300-image JPEG Lossless exam, beside dcmtk's ``dcmdjpeg`` on the same files.

The exam: one patient, 5 sequences × 2 arms (Standard, reference; Fast) × 30 slices = 300 images,
each slice a real 484×484 12-bit MR image (pydicom-data ``MR-SIEMENS-DICOM-WithOverlays.dcm``,
rolled per slice; the Fast arm with added noise), compressed by ``dcmcjpeg +e1`` (JPEG Lossless,
Process 14, SV1, the commonest PACS export). Measured, each in its own process so that peak
memory is its own:

- ``import folder``: ``import_dicom`` on the folder (read headers, validate, decode, normalise,
  blind, stage, commit to a throw-away SQLite database);
- ``import zip``: the same from a zip (deflate) of the folder, extraction included;
- ``dcmdjpeg`` (peer): dcmtk decompressing the same 300 files to uncompressed DICOM, one process
  per file as a script would call it;
- ``pydicom decode``: pydicom + pylibjpeg decoding the same files in one process, no import: the
  floor under the import (what the import adds is the rest).

Throughput is images/s and MB/s of compressed input; the ratio to the peer is the headline.

    python bench/bench_import.py [--slices 30] [--repeat 1]

Prints the figures and writes them to ``bench/results/import.txt`` with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEQUENCES = ["SAG T2", "SAG T1", "AX T2", "SAG STIR", "AX T1"]
ARMS = ["Standard", "Fast"]


def build_exam(out: Path, slices: int) -> tuple[Path, Path, int]:
    """Write the uncompressed exam, then JPEG Lossless SV1 copies; returns (exam, mapping, bytes)."""
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    source = Path(get_testdata_file("MR-SIEMENS-DICOM-WithOverlays.dcm"))
    template = pydicom.dcmread(source)
    pixels = template.pixel_array.astype(np.int32)
    orientation = np.array([float(v) for v in template.ImageOrientationPatient])
    normal = np.cross(orientation[:3], orientation[3:])
    origin = np.array([float(v) for v in template.ImagePositionPatient])
    rng = np.random.default_rng(0)
    raw, exam = out / "raw", out / "exam"
    rows = ["case,sequence,arm,path,slices"]
    study_uid = generate_uid()
    for s, sequence in enumerate(SEQUENCES):
        for arm in ARMS:
            folder = f"S{s + 1:02d}_{arm}"
            series_uid = generate_uid()
            (raw / folder).mkdir(parents=True)
            for k in range(slices):
                ds = pydicom.dcmread(source)
                image = np.roll(pixels, k * 3 + s, axis=0)
                if arm == "Fast":
                    image = image + rng.normal(0, 12, image.shape).round().astype(np.int32)
                ds.PixelData = np.clip(image, 0, 4095).astype("<u2").tobytes()
                ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
                ds.SOPInstanceUID = generate_uid()
                ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
                ds.SeriesInstanceUID, ds.StudyInstanceUID = series_uid, study_uid
                ds.PatientID, ds.PatientName = "BENCH-1", "BENCH^PATIENT"
                ds.SeriesDescription = f"{sequence} {arm}"
                ds.InstanceNumber = k + 1
                ds.ImagePositionPatient = [round(float(v), 4) for v in origin + normal * 4.4 * k]
                ds.save_as(raw / folder / f"IM{k:04d}.dcm", enforce_file_format=True)
            rows.append(f"C001,{sequence},{arm},{folder},{slices}")
    for path in sorted(raw.rglob("*.dcm")):
        target = exam / path.relative_to(raw)
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dcmcjpeg", "+e1", str(path), str(target)], check=True, capture_output=True)
    shutil.rmtree(raw)
    mapping = out / "mapping.csv"
    mapping.write_text("\n".join(rows) + "\n")
    total = sum(p.stat().st_size for p in exam.rglob("*.dcm"))
    return exam, mapping, total


def decode_only(exam: Path) -> None:
    """pydicom + pylibjpeg decoding the same files in one process: the floor under the import."""
    import pydicom

    files = sorted(exam.rglob("*.dcm"))
    start = time.perf_counter()
    for path in files:
        pydicom.dcmread(path).pixel_array
    elapsed = time.perf_counter() - start
    print(json.dumps({"seconds": elapsed, "images": len(files), "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def child(kind: str, source: Path, mapping: Path, var_dir: Path) -> None:
    """Run one import in this process and print its figures as JSON."""
    if kind == "decode":
        decode_only(source)
        return
    os.environ.update(
        {"VAR_DIR": str(var_dir), "DATABASE_URL": f"sqlite:///{var_dir / 'bench.sqlite3'}", "DJANGO_SETTINGS_MODULE": "readerstudy.settings"}
    )
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from readerstudy.imports.services import import_dicom
    from readerstudy.studies import services

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="x")
    study = services.study_create(name=f"Bench {kind}", created_by=user)
    for sequence in SEQUENCES:
        services.sequence_create(study=study, name=sequence)
    services.arm_create(study=study, name="Standard", is_reference=True)
    services.arm_create(study=study, name="Fast")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = import_dicom(study=study, source=source, mapping=mapping)
    elapsed = time.perf_counter() - start
    print(json.dumps({
        "seconds": elapsed, "images": result.instances, "series": len(result.series),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_before_mib": rss_before / 1024,
    }))


def run_child(kind: str, source: Path, mapping: Path, work: Path) -> dict:
    var_dir = work / f"var-{kind}-{time.monotonic_ns()}"
    var_dir.mkdir()
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(source), str(mapping), str(var_dir)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    shutil.rmtree(var_dir, ignore_errors=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_peer(exam: Path, work: Path) -> dict:
    files = sorted(exam.rglob("*.dcm"))
    out_dir = work / "dcmdjpeg-out"
    out_dir.mkdir()
    start = time.perf_counter()
    for n, path in enumerate(files):
        subprocess.run(["dcmdjpeg", str(path), str(out_dir / f"{n}.dcm")], check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    shutil.rmtree(out_dir)
    return {"seconds": elapsed, "images": len(files), "peak_rss_mib": children}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=30, help="slices per series (10 series)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement (best is reported)")
    parser.add_argument("--child", nargs=4, metavar=("KIND", "SOURCE", "MAPPING", "VAR_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, source, mapping, var_dir = args.child
        child(kind, Path(source), Path(mapping), Path(var_dir))
        return
    for tool in ("dcmcjpeg", "dcmdjpeg"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} (dcmtk) is not installed: apt-get install dcmtk")

    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        exam, mapping, total_bytes = build_exam(work, args.slices)
        build_s = time.perf_counter() - t0
        archive = work / "exam.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(exam.rglob("*.dcm")):
                zf.write(path, path.relative_to(exam).as_posix())
        load_before = os.getloadavg()
        results: dict[str, dict] = {}
        for _ in range(args.repeat):
            for name, fn in (
                ("dcmdjpeg (peer)", lambda: run_peer(exam, work)),
                ("import folder", lambda: run_child("folder", exam, mapping, work)),
                ("import zip", lambda: run_child("zip", archive, mapping, work)),
                ("pydicom decode", lambda: run_child("decode", exam, mapping, work)),
            ):
                r = fn()
                if name not in results or r["seconds"] < results[name]["seconds"]:
                    results[name] = r
        load_after = os.getloadavg()
        uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    n_images = 10 * args.slices
    mb = total_bytes / 1e6
    lines = [
        f"bench_import: {n_images}-image JPEG Lossless SV1 exam (10 series x {args.slices} slices, 484x484, 12 bits; "
        f"{mb:.1f} MB compressed, {archive.name} deflate); exam built in {build_s:.1f} s",
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs visible; python {platform.python_version()}",
        f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; "
        f"after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}",
        f"uptime: {uptime}",
        "",
        f"{'run':<18}{'seconds':>9}{'images/s':>10}{'MB/s':>8}{'peak RSS MiB':>14}{'(before)':>10}{'vs dcmdjpeg':>13}",
    ]
    peer = results["dcmdjpeg (peer)"]["seconds"]
    for name, r in results.items():
        ratio = peer / r["seconds"]
        lines.append(
            f"{name:<18}{r['seconds']:>9.2f}{n_images / r['seconds']:>10.1f}{mb / r['seconds']:>8.2f}"
            f"{r['peak_rss_mib']:>14.0f}{(str(round(r['rss_before_mib'])) if 'rss_before_mib' in r else '-'):>10}{ratio:>12.2f}x"
        )
    lines += [
        "",
        "vs dcmdjpeg: the peer's seconds / this run's seconds (above 1: faster than dcmtk decompressing the same files).",
        "The import does more than decode: it reads headers, validates geometry, normalises the arms, blinds,",
        "writes and checksums 300 files and commits rows; dcmdjpeg starts one process per file.",
        "pydicom decode: decoding only, in one process (no process start per file, nothing written).",
        "Peak RSS: of the importing process (Django, numpy, pydicom loaded; '(before)': just before the import);",
        "for dcmdjpeg the largest child.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = ROOT / "bench" / "results" / "import.txt"
    out.write_text(text)
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
