import pytest

from recon.protocols import get_protocol, load_protocols, parse_protocols, protocol_set


def test_seed_000_table_1_is_data():
    t2 = get_protocol("SAG T2 FS", "msk")
    assert (t2.te_ms, t2.tr_ms, t2.fov_mm, t2.slice_thickness_mm, t2.echo_train_length) == (67, 5000, 260, 3, 16)
    assert (t2.matrix_frequency, t2.matrix_phase, t2.bandwidth_khz) == (392, 224, 83.3)
    assert t2.arm("Standard").nex == 2 and t2.arm("Fast").nex == 1
    t1 = get_protocol("SAG T1", "neuro")
    assert t1.arm("Fast").nex == 0.5 and t1.arm("Fast").is_partial_fourier and 0.5 < t1.arm("Fast").partial_fourier < 0.6
    ax = get_protocol("AX T2", "neuro")
    assert (ax.te_ms, ax.tr_ms, ax.fov_mm, ax.matrix_frequency, ax.matrix_phase, ax.arm("Standard").nex) == (96, 6000, 180, 292, 192, 1)
    assert [p.name for p in protocol_set("neuro")] == ["SAG T2 FS", "SAG T1", "AX T2"]


def test_a_coordinator_adds_a_protocol_without_code(tmp_path, monkeypatch):
    extra = tmp_path / "site.toml"
    extra.write_text(
        '[[sequence]]\nset = "site"\nname = "SAG STIR"\nplane = "sagittal"\nfat_suppression = true\n'
        "te_ms = 40\ntr_ms = 4000\necho_train_length = 12\nfov_mm = 280\nslice_thickness_mm = 4\n"
        "slice_gap_mm = 0.4\nslices = 15\nmatrix_frequency = 320\nmatrix_phase = 224\nrecon_matrix = 384\n"
        'bandwidth_khz = 62.5\narms.Standard = { nex = 2 }\narms.Fast = { nex = 1 }\narms."Fast-R2" = { nex = 2, acceleration = 2, calibration_lines = 24 }\n'
    )
    monkeypatch.setenv("RECON_PROTOCOLS", str(extra))
    p = get_protocol("SAG STIR", "site")
    assert p.arm("Fast-R2").acceleration == 2
    assert ("lumbar", "SAG T1") in load_protocols()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"plane": "coronal"}, "plane"),
        ({"matrix_phase": 999}, "larger than recon_matrix"),
        ({"arms": {"Standard": {"nex": 0.7}}}, "fractional NEX"),
        ({"arms": {"Standard": {"nex": 2, "speed": 3}}}, "unknown arm keys"),
        ({"colour": "red"}, "unknown keys"),
    ],
)
def test_bad_protocols_are_refused_with_a_precise_error(change, message):
    raw = {
        "set": "x", "name": "y", "plane": "sagittal", "fat_suppression": False, "te_ms": 8, "tr_ms": 700,
        "echo_train_length": 4, "fov_mm": 260, "slice_thickness_mm": 3, "slice_gap_mm": 0.3, "slices": 20,
        "matrix_frequency": 352, "matrix_phase": 192, "recon_matrix": 384, "bandwidth_khz": 100,
        "arms": {"Standard": {"nex": 2}},
    }
    raw.update(change)
    with pytest.raises(ValueError, match=message):
        parse_protocols({"sequence": [raw]})
