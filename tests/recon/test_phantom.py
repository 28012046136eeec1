import numpy as np
import pytest
from scipy import ndimage

from recon.acquisition import prescribe
from recon.phantom import FINDINGS, LEVELS, Finding, case_findings, make_phantom, render_signal, sample_labels
from recon.protocols import get_protocol
from recon.signal import signal_lookup
from recon.tissues import LABELS

from .conftest import small_phantom


def test_same_seed_same_case_other_seed_other_case():
    a, b = small_phantom(5), make_phantom(5, spacing_mm=1.6)
    assert np.array_equal(a.labels, b.labels)
    c = make_phantom(6, spacing_mm=1.6)
    assert not np.array_equal(a.labels, c.labels)
    assert a.anatomy.lordosis_mm != c.anatomy.lordosis_mm


def test_reference_standard_covers_every_level_and_finding():
    ref = small_phantom().reference_standard()
    assert [(lv, f) for lv, f, _ in ref] == [(lv, f) for lv in LEVELS for f in FINDINGS]
    assert [f.present for f in case_findings(5)] == [p for _, _, p in ref]


def test_prevalence_is_configurable():
    assert not any(f.present for f in case_findings(1, prevalence={f: 0.0 for f in FINDINGS}))
    assert all(f.present for f in case_findings(1, prevalence={f: 1.0 for f in FINDINGS}))
    with pytest.raises(ValueError, match="unknown findings"):
        case_findings(1, prevalence={"fracture": 0.2})


def test_anatomy_is_all_there():
    present = set(np.unique(small_phantom().labels))
    for tissue in ["subcutaneous_fat", "muscle", "cortical_bone", "marrow", "disc_nucleus", "disc_annulus",
                   "csf", "cord", "nerve_root", "epidural_fat", "ligament", "facet_fluid", "vessel"]:
        assert LABELS[tissue] in present, tissue


def test_conus_ends_at_l1_l2():
    ph = small_phantom()
    z = ph.anatomy.conus_z_mm
    assert ph.disc_frames["L1-L2"].center[2] - 3 <= z <= ph.vertebra_frames["L1"].center[2] + 1


@pytest.mark.parametrize("finding", FINDINGS)
def test_every_finding_changes_the_anatomy_at_its_level(finding):
    details = {"modic_changes": {"type": 1}, "foraminal_stenosis": {"side": "left"}, "facet_synovial_cyst": {"side": "right"},
               "disc_herniation": {"position": "central", "size_mm": 6.0}, "schmorl_nodes": {"endplate": "inferior", "offset_mm": 0.0},
               "spinal_stenosis": {"severity": 0.6}}.get(finding, {})
    none = make_phantom(11, spacing_mm=1.6, findings=[])
    one = make_phantom(11, spacing_mm=1.6, findings=[Finding("L4-L5", finding, True, details)])
    assert one.finding("L4-L5", finding).present and not none.finding("L4-L5", finding).present
    if finding == "disc_degeneration":
        # Desiccated nucleus, and the disc loses height (the levels below move up).
        assert LABELS["disc_nucleus_desiccated"] in one.labels and LABELS["disc_nucleus_desiccated"] not in none.labels
        assert one.disc_frames["L5-S1"].center[2] > none.disc_frames["L5-S1"].center[2]
        return
    changed = np.argwhere(one.labels != none.labels)
    assert len(changed) > 20
    # The change sits around the L4-L5 disc (within ~ one vertebra).
    z = one.origin_mm[2] + changed[:, 2].mean() * one.spacing_mm
    assert abs(z - one.disc_frames["L4-L5"].center[2]) < 30


def _midline_truth(ph, sequence):
    protocol = get_protocol(sequence).scaled(recon_matrix=256, slices=1)
    center = ph.disc_frames["L3-L4"].center.copy()
    g = prescribe(protocol, center)
    lut = signal_lookup(tr_ms=protocol.tr_ms, te_ms=protocol.te_ms, fat_suppression=protocol.fat_suppression)
    return render_signal(ph, lut, g)[0], sample_labels(ph, g)[0], lut


def test_modic_type_1_shows_its_modelled_contrast_on_t1_and_t2():
    ph = make_phantom(21, spacing_mm=1.0, findings=[Finding("L4-L5", "modic_changes", True, {"type": 1})])
    for sequence in ("SAG T1", "SAG T2 FS"):
        img, lab, lut = _midline_truth(ph, sequence)
        modic = ndimage.binary_erosion(lab == LABELS["modic1_marrow"], iterations=1)
        marrow = ndimage.binary_erosion(lab == LABELS["marrow"], iterations=2)
        assert modic.sum() > 10
        measured = img[modic].mean() / img[marrow].mean()
        modelled = lut[LABELS["modic1_marrow"]] / lut[LABELS["marrow"]]
        assert measured == pytest.approx(modelled, rel=0.1)
    # Type 1 (edema) is dark on T1 and bright on T2 FS relative to normal marrow.
    t1 = signal_lookup(tr_ms=700, te_ms=8, fat_suppression=False)
    t2fs = signal_lookup(tr_ms=5000, te_ms=78, fat_suppression=True)
    assert t1[LABELS["modic1_marrow"]] < 0.8 * t1[LABELS["marrow"]]
    assert t2fs[LABELS["modic1_marrow"]] > 1.5 * t2fs[LABELS["marrow"]]


def test_desiccated_disc_is_darker_on_t2_by_the_modelled_contrast():
    ph = make_phantom(22, spacing_mm=1.0, findings=[Finding("L3-L4", "disc_degeneration", True)])
    img, lab, lut = _midline_truth(ph, "SAG T2 FS")
    dry = ndimage.binary_erosion(lab == LABELS["disc_nucleus_desiccated"], iterations=1)
    wet = ndimage.binary_erosion(lab == LABELS["disc_nucleus"], iterations=1)
    assert dry.sum() > 5 and wet.sum() > 5
    measured = img[dry].mean() / img[wet].mean()
    assert measured == pytest.approx(lut[LABELS["disc_nucleus_desiccated"]] / lut[LABELS["disc_nucleus"]], rel=0.15)
    assert measured < 0.7
