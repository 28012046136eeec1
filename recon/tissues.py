"""Tissue relaxation parameters at 3 T for the lumbar spine phantom.

Every tissue is a water pool plus a fat pool, each with its own proton density (relative to
pure water = 1), T1 and T2. Keeping fat as its own pool is what lets fat suppression act on
marrow and Modic type 2 change the way it does on a scanner, instead of painting an
"FS value" by hand.

Values are rounded literature means at 3 T; they are meant to give realistic contrast, not to
be quoted as reference values. Fat's T2 is the *apparent* FSE value (J-coupling is broken up
by the echo train, which is why fat stays bright on FSE).

References
----------
.. [1] Drake-Pérez M, Delattre BMA, Boto J, et al. Normal values of magnetic relaxation
   parameters of spine components with the synthetic MRI sequence. AJNR Am J Neuroradiol.
   2018;39(4):788-795. (SyMRI at 3 T: vertebral bodies, normal and degenerated discs, CSF,
   spinal cord.)
.. [2] Gold GE, Han E, Stainsby J, Wright G, Brittain J, Beaulieu C. Musculoskeletal MRI at
   3.0 T: relaxation times and image contrast. AJR Am J Roentgenol. 2004;183(2):343-351.
   (Skeletal muscle, subcutaneous fat, marrow.)
.. [3] Bojorquez JZ, Bricq S, Acquitter C, Brunotte F, Walker PM, Lalande A. What are normal
   relaxation times of tissues at 3 T? Magn Reson Imaging. 2017;35:69-80. (Review; fat
   T2 as measured with multi-echo spin echo.)
.. [4] Smith SA, Edden RAE, Farrell JAD, Barker PB, van Zijl PCM. Measurement of T1 and T2 in
   the cervical spinal cord at 3 tesla. Magn Reson Med. 2008;60(1):213-219.
.. [5] Marinelli NL, Haughton VM, Muñoz A, Anderson PA. T2 relaxation times of intervertebral
   disc tissue correlated with water content and proteoglycan content. Spine.
   2009;34(5):520-524. (Nucleus T2 falls with degeneration/water loss.)
.. [6] Lu H, Nagae-Poetscher LM, Golay X, Lin D, Pomper M, van Zijl PCM. Routine clinical brain
   MRI sequences for use at 3.0 Tesla. J Magn Reson Imaging. 2005;22(1):13-22. (CSF T1.)
.. [7] Karampinos DC, Ruschke S, Dieckmeyer M, et al. Quantitative MRI and spectroscopy of
   bone marrow. J Magn Reson Imaging. 2018;47(2):332-353. (Lumbar marrow fat fraction
   30-50 % in adults; Modic 1 edema, Modic 2 fatty conversion.)
.. [8] Stanisz GJ, Odrobina EE, Pun J, et al. T1, T2 relaxation and magnetization transfer in
   tissue at 3T. Magn Reson Med. 2005;54(3):507-512. (Blood T1/T2.)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tissue:
    """Two-pool tissue: water and fat, each with PD (relative to water) and T1/T2 in ms."""

    name: str
    pd_water: float
    t1_water_ms: float
    t2_water_ms: float
    pd_fat: float = 0.0
    t1_fat_ms: float = 380.0
    t2_fat_ms: float = 133.0

    @property
    def fat_fraction(self) -> float:
        total = self.pd_water + self.pd_fat
        return self.pd_fat / total if total else 0.0


# Fat pool shared by every fatty tissue: T1 ~380 ms [2], apparent FSE T2 ~133 ms [3].
_FAT_T1 = 380.0
_FAT_T2 = 133.0


def _mix(name: str, fat_fraction: float, pd: float, t1_w: float, t2_w: float) -> Tissue:
    return Tissue(
        name=name,
        pd_water=pd * (1.0 - fat_fraction),
        t1_water_ms=t1_w,
        t2_water_ms=t2_w,
        pd_fat=pd * fat_fraction,
        t1_fat_ms=_FAT_T1,
        t2_fat_ms=_FAT_T2,
    )


# Label ids of the phantom. Order matters only for readability; values are stable because
# pathology ground truth and tests refer to them by name through LABELS.
TISSUES: dict[str, Tissue] = {
    "air": Tissue("air", 0.0, 1000.0, 1.0),
    "subcutaneous_fat": _mix("subcutaneous_fat", 0.95, 0.95, 1100.0, 40.0),  # [2][3]
    "muscle": Tissue("muscle", 0.75, 1420.0, 32.0),  # [2]
    "viscera": _mix("viscera", 0.15, 0.80, 1100.0, 55.0),  # generic abdominal soft tissue
    "cortical_bone": Tissue("cortical_bone", 0.05, 1000.0, 1.0),  # no MR signal at clinical TE
    # Adult lumbar marrow ~40 % fat [7]; water pool T1/T2 chosen so the in-phase values match
    # SyMRI vertebral-body T1 ~700 ms / T2 ~60 ms [1].
    "marrow": _mix("marrow", 0.40, 0.85, 1200.0, 45.0),
    "disc_nucleus": Tissue("disc_nucleus", 0.85, 1150.0, 115.0),  # normal disc [1][5]
    "disc_annulus": Tissue("disc_annulus", 0.70, 950.0, 45.0),  # [5]
    "disc_nucleus_desiccated": Tissue("disc_nucleus_desiccated", 0.65, 950.0, 60.0),  # [1][5]
    "csf": Tissue("csf", 1.00, 4200.0, 1800.0),  # [1][6]
    "cord": Tissue("cord", 0.75, 900.0, 75.0),  # [1][4]
    "nerve_root": Tissue("nerve_root", 0.75, 900.0, 70.0),
    "epidural_fat": _mix("epidural_fat", 0.95, 0.95, 1100.0, 40.0),
    "ligament": Tissue("ligament", 0.35, 900.0, 20.0),  # ligamentum flavum, dark on all
    "facet_fluid": Tissue("facet_fluid", 0.90, 3000.0, 600.0),
    "vessel": Tissue("vessel", 0.05, 1900.0, 250.0),  # flowing blood: flow void on SE [8]
    # Pathology tissues.
    # Modic 1: fibrovascular, edema: more water with long T2, less fat -> dark T1, bright T2 [7].
    "modic1_marrow": _mix("modic1_marrow", 0.10, 0.90, 1600.0, 90.0),
    # Modic 2: fatty conversion: bright T1 and T2, suppressed on FS [7].
    "modic2_marrow": _mix("modic2_marrow", 0.80, 0.90, 1200.0, 45.0),
    "herniated_nucleus": Tissue("herniated_nucleus", 0.80, 1100.0, 90.0),
    "cyst_fluid": Tissue("cyst_fluid", 0.95, 3500.0, 900.0),
}

LABELS: dict[str, int] = {name: index for index, name in enumerate(TISSUES)}
LABEL_NAMES: list[str] = list(TISSUES)


def tissue_table() -> list[Tissue]:
    """Tissues in label order (index = label value in the phantom volume)."""
    return [TISSUES[name] for name in LABEL_NAMES]
