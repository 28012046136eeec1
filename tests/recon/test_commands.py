import csv

import pytest
from django.core.management import CommandError, call_command

from recon.phantom import FINDINGS, LEVELS


def test_recon_phantom_writes_series_manifest_and_reference(tmp_path):
    out = tmp_path / "out"
    call_command("recon_phantom", "--cases", "2", "--seed", "9", "--out", str(out), "--matrix", "64", "--slices", "3",
                 "--spacing-mm", "2.0", "--arms", "Truth", "Standard", "Fast")
    manifest = list(csv.DictReader(open(out / "manifest.csv")))
    assert list(manifest[0]) == ["case", "sequence", "arm", "path", "slices"]
    assert len(manifest) == 2 * 3 * 3
    assert {(r["sequence"], r["arm"]) for r in manifest} == {(s, a) for s in ("SAG T2 FS", "SAG T1", "AX T2") for a in ("Truth", "Standard", "Fast")}
    for r in manifest:
        files = sorted((out / r["path"]).glob("*.dcm"))
        assert len(files) == int(r["slices"]) == 3
    ref = list(csv.DictReader(open(out / "reference_standard.csv")))
    assert list(ref[0]) == ["case", "level", "finding", "present"]
    assert len(ref) == 2 * len(LEVELS) * len(FINDINGS)
    assert {r["present"] for r in ref} <= {"0", "1"}
    # Reproducible: the same seed gives the same reference standard.
    out2 = tmp_path / "again"
    call_command("recon_phantom", "--cases", "2", "--seed", "9", "--out", str(out2), "--matrix", "64", "--slices", "3",
                 "--spacing-mm", "2.0", "--sequences", "SAG T1", "--arms", "Standard")
    assert list(csv.DictReader(open(out2 / "reference_standard.csv"))) == ref
    assert len(list(csv.DictReader(open(out2 / "manifest.csv")))) == 2


def test_default_arms_are_truth_the_protocol_arms_and_registered_steps(tmp_path):
    import numpy as np

    from recon.pipeline import ARM_STEPS, register_arm_step, unregister_arm_step

    register_arm_step("Fast-Half", lambda sim: sim.fast * np.float32(0.5))
    try:
        out = tmp_path / "o"
        call_command("recon_phantom", "--cases", "1", "--seed", "9", "--out", str(out), "--matrix", "64", "--slices", "2",
                     "--spacing-mm", "2.0", "--sequences", "SAG T1")
        arms = [r["arm"] for r in csv.DictReader(open(out / "manifest.csv"))]
        assert arms[:3] == ["Truth", "Standard", "Fast"] and "Fast-Half" in arms and set(ARM_STEPS) <= set(arms)
    finally:
        unregister_arm_step("Fast-Half")


def test_recon_phantom_refuses_a_non_empty_folder_and_bad_sequences(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(CommandError, match="not empty"):
        call_command("recon_phantom", "--cases", "1", "--seed", "1", "--out", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="unknown sequences"):
        call_command("recon_phantom", "--cases", "1", "--seed", "1", "--out", str(tmp_path / "y"), "--sequences", "COR T1")
