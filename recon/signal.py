"""Spin-echo / fast spin-echo contrast and fat suppression.

For a 2-D FSE with effective echo time TE and repetition time TR (TR >> ETL * echo spacing is
assumed, so the echo train only sets the effective TE), the signal of one pool is

    S = PD * (1 - exp(-TR / T1)) * exp(-TE / T2)

and a tissue's signal is the sum over its water and fat pools. Chemically selective fat
saturation multiplies the fat pool by ``1 - efficiency``.

References
----------
.. [1] Bernstein MA, King KF, Zhou XJ. Handbook of MRI Pulse Sequences. Elsevier; 2004,
   ch. 14 (spin echo) and ch. 16 (RARE / FSE).
.. [2] Haase A, Frahm J, Hänicke W, Matthaei D. 1H NMR chemical shift selective (CHESS)
   imaging. Phys Med Biol. 1985;30(4):341-344.
"""

from __future__ import annotations

import numpy as np

from .tissues import Tissue, tissue_table

DEFAULT_FAT_SUPPRESSION_EFFICIENCY = 0.95


def spin_echo_signal(pd: np.ndarray | float, t1_ms, t2_ms, tr_ms: float, te_ms: float):
    """S = PD (1 - e^(-TR/T1)) e^(-TE/T2), elementwise."""
    pd = np.asarray(pd, dtype=float)
    return pd * (1.0 - np.exp(-tr_ms / np.asarray(t1_ms, float))) * np.exp(-te_ms / np.asarray(t2_ms, float))


def tissue_signal(
    tissue: Tissue, *, tr_ms: float, te_ms: float, fat_suppression: bool,
    fat_suppression_efficiency: float = DEFAULT_FAT_SUPPRESSION_EFFICIENCY,
) -> float:
    """Signal of one two-pool tissue (water + fat) for an FSE with or without fat saturation."""
    if not 0.0 <= fat_suppression_efficiency <= 1.0:
        raise ValueError("fat_suppression_efficiency must be in [0, 1]")
    water = spin_echo_signal(tissue.pd_water, tissue.t1_water_ms, tissue.t2_water_ms, tr_ms, te_ms)
    fat = spin_echo_signal(tissue.pd_fat, tissue.t1_fat_ms, tissue.t2_fat_ms, tr_ms, te_ms)
    if fat_suppression:
        fat = fat * (1.0 - fat_suppression_efficiency)
    return float(water + fat)


def signal_lookup(
    *, tr_ms: float, te_ms: float, fat_suppression: bool,
    fat_suppression_efficiency: float = DEFAULT_FAT_SUPPRESSION_EFFICIENCY,
) -> np.ndarray:
    """Signal per phantom label (index = label value), float32, for a label -> signal lookup."""
    return np.array(
        [
            tissue_signal(t, tr_ms=tr_ms, te_ms=te_ms, fat_suppression=fat_suppression,
                          fat_suppression_efficiency=fat_suppression_efficiency)
            for t in tissue_table()
        ],
        dtype=np.float32,
    )
