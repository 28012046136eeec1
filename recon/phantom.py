"""A seeded, procedural lumbar spine phantom (T12-S1) with pathology ground truth per level.

The phantom is one 3-D label volume in patient coordinates (DICOM LPS, mm: +x patient left,
+y posterior, +z superior). Every series of a case, sagittal or axial, samples this same volume
(:func:`render_signal`), so the geometry of all series of a case is consistent by construction.

Anatomy: vertebral bodies T12-S1 (plus S2 for the sacrum) with cortical rim and marrow, discs
with nucleus and annulus, the bony canal with epidural fat, the dural sac (CSF), the cord ending
in the conus at L1-L2, cauda equina roots, pedicles, laminae, spinous and transverse processes,
facet joints with joint fluid, neural foramina with fat and exiting roots, ligamentum flavum,
paraspinal muscles, psoas, aorta and IVC (flow voids), abdominal viscera and subcutaneous fat.
The spine follows a lordotic curve; per case the curve, vertebral and disc sizes, canal size,
conus level, body habitus and fat thickness vary.

Pathology per disc level (``T12-L1`` ... ``L5-S1``), drawn at random per case at configurable
prevalence, as listed in seed 001: disc degeneration (desiccation: lower nucleus T2, lower disc
height), disc bulge, disc herniation, spinal canal stenosis, foraminal stenosis, facet synovial
cyst, Modic changes (type 1 or 2) and Schmorl nodes. The draw is the case's reference standard.

Examples
--------
>>> case = make_phantom(seed=7, spacing_mm=1.5)
>>> case.reference_standard()[:2]       # doctest: +SKIP
[('T12-L1', 'disc_degeneration', False), ('T12-L1', 'disc_bulge', True)]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .tissues import LABELS

VERTEBRAE = ["T12", "L1", "L2", "L3", "L4", "L5", "S1", "S2"]
LEVELS = ["T12-L1", "L1-L2", "L2-L3", "L3-L4", "L4-L5", "L5-S1"]
FINDINGS = [
    "disc_degeneration",
    "disc_bulge",
    "disc_herniation",
    "spinal_stenosis",
    "foraminal_stenosis",
    "facet_synovial_cyst",
    "modic_changes",
    "schmorl_nodes",
]
# Per-level prevalence from seed 001 (31 patients x 5 levels: degeneration 83, bulge 53,
# herniation 45, foraminal stenosis 33, canal stenosis 24, Modic 20, Schmorl 11, cyst 2),
# with the cyst raised so that a study of ~18 phantom cases contains a few.
DEFAULT_PREVALENCE = {
    "disc_degeneration": 0.50,
    "disc_bulge": 0.30,
    "disc_herniation": 0.25,
    "spinal_stenosis": 0.15,
    "foraminal_stenosis": 0.20,
    "facet_synovial_cyst": 0.05,
    "modic_changes": 0.12,
    "schmorl_nodes": 0.08,
}
# Degeneration concentrates at the lower lumbar levels; weights have mean 1 so the average
# per-level prevalence is the configured one.
LEVEL_WEIGHTS = np.array([0.5, 0.7, 0.85, 1.1, 1.45, 1.4])

# Volume covered by the phantom (mm, LPS). Wide enough for a 260 mm sagittal FOV and a 180 mm
# axial FOV with 60 slices.
EXTENT_MM = {"x": (-100.0, 100.0), "y": (-180.0, 125.0), "z": (-140.0, 140.0)}


@dataclass(frozen=True)
class Frame:
    """A local frame: ``u`` lateral (patient left), ``v`` posterior, ``w`` along the spine (up)."""

    center: np.ndarray
    e_u: np.ndarray
    e_v: np.ndarray
    e_w: np.ndarray


@dataclass
class Finding:
    level: str
    finding: str
    present: bool
    details: dict = field(default_factory=dict)


@dataclass
class Anatomy:
    """Per-case anatomical parameters (mm)."""

    lordosis_mm: float
    apex_y_mm: float
    apex_z_mm: float
    top_z_mm: float
    body_heights_mm: list[float]
    disc_heights_mm: list[float]
    body_semi_lr_mm: list[float]
    body_semi_ap_mm: list[float]
    sac_semi_lr_mm: float
    sac_semi_ap_mm: float
    cord_radius_mm: float
    conus_z_mm: float = 0.0
    trunk_semi_lr_mm: float = 160.0
    trunk_semi_ap_mm: float = 120.0
    fat_mm: float = 20.0
    posterior_depth_mm: float = 62.0
    lateral_shift_mm: float = 0.0
    fat_suppression_efficiency: float = 0.95


@dataclass
class Phantom:
    """A case: the label volume, its grid, anatomy and pathology ground truth."""

    seed: int
    labels: np.ndarray  # uint8 (nx, ny, nz)
    origin_mm: np.ndarray  # centre of voxel (0, 0, 0)
    spacing_mm: float
    anatomy: Anatomy
    findings: list[Finding]
    vertebra_frames: dict[str, Frame]
    disc_frames: dict[str, Frame]

    def reference_standard(self) -> list[tuple[str, str, bool]]:
        """(level, finding, present) for every level x finding, in LEVELS x FINDINGS order."""
        return [(f.level, f.finding, f.present) for f in self.findings]

    def finding(self, level: str, finding: str) -> Finding:
        for f in self.findings:
            if f.level == level and f.finding == finding:
                return f
        raise KeyError((level, finding))

    @property
    def posterior_skin_y_mm(self) -> float:
        """Most posterior skin position (the patient lies on the table and the spine array here)."""
        return float(max(self.skin_y(z)[1] for z in (self.vertebra_frames[v].center[2] for v in VERTEBRAE)))

    @property
    def anterior_skin_y_mm(self) -> float:
        return float(min(self.skin_y(z)[0] for z in (self.vertebra_frames[v].center[2] for v in VERTEBRAE)))

    def skin_y(self, z_mm: float) -> tuple[float, float]:
        """(anterior, posterior) skin y at height z on the midline."""
        a = self.anatomy
        y_post = _curve_y(a, z_mm) * 0.5 + a.posterior_depth_mm + a.fat_mm
        return y_post - 2 * a.trunk_semi_ap_mm, y_post

    @property
    def spine_center_mm(self) -> np.ndarray:
        """Centre of the L2-L3 disc: the natural centre of a lumbar prescription."""
        return self.disc_frames["L2-L3"].center.copy()

    def axis_mm(self, axis: str) -> np.ndarray:
        i = "xyz".index(axis)
        return self.origin_mm[i] + self.spacing_mm * np.arange(self.labels.shape[i])


# --------------------------------------------------------------------------------------------
# Anatomy draw


def draw_anatomy(rng: np.random.Generator) -> Anatomy:
    scale = rng.normal(1.0, 0.05)
    body_h = [h * scale * rng.normal(1.0, 0.03) for h in (24.0, 25.0, 26.0, 27.0, 27.0, 26.0, 26.0, 22.0)]
    disc_h = [h * rng.normal(1.0, 0.08) for h in (7.0, 8.0, 9.0, 10.0, 11.0, 10.0)]
    semi_lr = [a * scale for a in (20.0, 21.0, 22.0, 23.0, 24.0, 25.0, 24.0, 20.0)]
    semi_ap = [b * scale for b in (15.0, 15.5, 16.0, 16.5, 17.0, 17.0, 16.5, 14.0)]
    return Anatomy(
        lordosis_mm=float(rng.uniform(14.0, 30.0)),
        apex_y_mm=-20.0 + float(rng.normal(0, 3)),
        apex_z_mm=float(rng.normal(-5.0, 6.0)),
        top_z_mm=float(rng.normal(118.0, 4.0)),
        body_heights_mm=body_h,
        disc_heights_mm=disc_h,
        body_semi_lr_mm=semi_lr,
        body_semi_ap_mm=semi_ap,
        sac_semi_lr_mm=float(rng.uniform(9.5, 12.0)),
        sac_semi_ap_mm=float(rng.uniform(6.5, 8.5)),
        cord_radius_mm=float(rng.uniform(3.8, 4.6)),
        trunk_semi_lr_mm=float(rng.uniform(140.0, 180.0)),
        trunk_semi_ap_mm=float(rng.uniform(105.0, 125.0)),
        fat_mm=float(rng.uniform(8.0, 32.0)),
        posterior_depth_mm=float(rng.uniform(58.0, 66.0)),
        lateral_shift_mm=float(rng.normal(0.0, 1.5)),
        fat_suppression_efficiency=float(np.clip(rng.normal(0.95, 0.015), 0.88, 0.99)),
    )


def draw_findings(rng: np.random.Generator, prevalence: dict[str, float] | None = None) -> list[Finding]:
    prev = dict(DEFAULT_PREVALENCE)
    if prevalence:
        unknown = set(prevalence) - set(FINDINGS)
        if unknown:
            raise ValueError(f"unknown findings in prevalence: {sorted(unknown)}")
        prev.update(prevalence)
    out = []
    for li, level in enumerate(LEVELS):
        for finding in FINDINGS:
            p = float(prev[finding])
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"prevalence of {finding} must be in [0, 1]")
            p_level = min(0.95, p * LEVEL_WEIGHTS[li]) if 0.0 < p < 1.0 else p
            present = bool(rng.random() < p_level)
            details: dict = {}
            # Details are drawn whether or not the finding is present so that the random stream,
            # and hence the anatomy of other findings, does not depend on each draw.
            side = str(rng.choice(["left", "right"]))
            if finding == "disc_herniation":
                details = {"position": str(rng.choice(["central", "left", "right"])), "size_mm": float(rng.uniform(4.5, 7.0))}
            elif finding in ("foraminal_stenosis", "facet_synovial_cyst"):
                details = {"side": side}
            elif finding == "modic_changes":
                details = {"type": int(rng.choice([1, 2]))}
            elif finding == "schmorl_nodes":
                details = {"endplate": str(rng.choice(["superior", "inferior"])), "offset_mm": float(rng.uniform(-8, 8))}
            elif finding == "spinal_stenosis":
                details = {"severity": float(rng.uniform(0.45, 0.65))}
            out.append(Finding(level, finding, present, details if present else {}))
    return out


# --------------------------------------------------------------------------------------------
# Geometry of the spine


def _curve_y(a: Anatomy, z):
    """Lordotic curve of the vertebral-body centres: most anterior at the apex (~L3)."""
    return a.apex_y_mm + a.lordosis_mm * ((np.asarray(z, float) - a.apex_z_mm) / 120.0) ** 2


def _curve_dy(a: Anatomy, z):
    return 2.0 * a.lordosis_mm * (np.asarray(z, float) - a.apex_z_mm) / 120.0**2


def _frame_at(a: Anatomy, z: float, v_offset: float = 0.0) -> Frame:
    dy = float(_curve_dy(a, z))
    t = np.array([0.0, dy, 1.0]) / math.hypot(dy, 1.0)
    n = np.array([0.0, 1.0, -dy]) / math.hypot(dy, 1.0)
    c = np.array([a.lateral_shift_mm, float(_curve_y(a, z)), z]) + v_offset * n
    return Frame(center=c, e_u=np.array([1.0, 0.0, 0.0]), e_v=n, e_w=t)


def _layout(a: Anatomy) -> tuple[dict[str, Frame], dict[str, Frame]]:
    """Stack vertebrae and discs along the curve by arc length, from the top of T12 down."""
    zs = np.linspace(a.top_z_mm + 5, -200.0, 4000)
    ys = _curve_y(a, zs)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(zs), np.diff(ys)))])
    s -= np.interp(a.top_z_mm, zs[::-1], s[::-1])

    def z_at(arc):
        return float(np.interp(arc, s, zs))

    vertebrae, discs = {}, {}
    pos = 0.0
    for i, name in enumerate(VERTEBRAE):
        h = a.body_heights_mm[i]
        vertebrae[name] = _frame_at(a, z_at(pos + h / 2))
        pos += h
        if i < len(LEVELS):
            d = a.disc_heights_mm[i]
            discs[LEVELS[i]] = _frame_at(a, z_at(pos + d / 2))
            pos += d
        elif name == "S1":
            pos += 1.5  # rudimentary S1-S2 disc, fused
    return vertebrae, discs


# --------------------------------------------------------------------------------------------
# Painting


class _Canvas:
    def __init__(self, spacing_mm: float):
        self.spacing = float(spacing_mm)
        self.origin = np.array([EXTENT_MM[k][0] for k in "xyz"])
        shape = [int(math.floor((EXTENT_MM[k][1] - EXTENT_MM[k][0]) / spacing_mm)) + 1 for k in "xyz"]
        self.labels = np.zeros(shape, dtype=np.uint8)
        self.axes = [self.origin[i] + self.spacing * np.arange(shape[i]) for i in range(3)]

    def _bbox(self, frame: Frame, bounds):
        """World-axis index ranges covering the local box ``bounds`` = (u0, u1, v0, v1, w0, w1)."""
        u0, u1, v0, v1, w0, w1 = bounds
        corners = np.array([[u, v, w] for u in (u0, u1) for v in (v0, v1) for w in (w0, w1)])
        world = frame.center + corners @ np.stack([frame.e_u, frame.e_v, frame.e_w])
        sl = []
        for i in range(3):
            lo = int(math.floor((world[:, i].min() - 1.0 - self.origin[i]) / self.spacing))
            hi = int(math.ceil((world[:, i].max() + 1.0 - self.origin[i]) / self.spacing)) + 1
            lo, hi = max(lo, 0), min(hi, self.labels.shape[i])
            if hi <= lo:
                return None
            sl.append(slice(lo, hi))
        return tuple(sl)

    def local(self, frame: Frame, bounds):
        """(slices, u, v, w) for the voxels of the world box that holds local ``bounds``."""
        sl = self._bbox(frame, bounds)
        if sl is None:
            return None
        x = (self.axes[0][sl[0]] - frame.center[0])[:, None, None]
        y = (self.axes[1][sl[1]] - frame.center[1])[None, :, None]
        z = (self.axes[2][sl[2]] - frame.center[2])[None, None, :]
        u = x * frame.e_u[0] + y * frame.e_u[1] + z * frame.e_u[2]
        v = x * frame.e_v[0] + y * frame.e_v[1] + z * frame.e_v[2]
        w = x * frame.e_w[0] + y * frame.e_w[1] + z * frame.e_w[2]
        return sl, u, v, w

    def paint(self, frame: Frame, shape, label: str, only: tuple[str, ...] | None = None, bounds=None) -> int:
        """Paint ``label`` where ``shape(u, v, w)`` holds; ``bounds`` defaults to shape.bounds."""
        got = self.local(frame, bounds if bounds is not None else shape.bounds)
        if got is None:
            return 0
        sl, u, v, w = got
        view = self.labels[sl]
        mask = np.broadcast_to(shape(u, v, w), view.shape)
        if only is not None:
            mask = mask & _ONLY_LUT[_only_key(only)][view]
        view[mask] = LABELS[label]
        return int(mask.sum())


_ONLY_LUT: dict = {}


def _only_key(only):
    key = tuple(sorted(only))
    if key not in _ONLY_LUT:
        lut = np.zeros(256, dtype=bool)
        lut[[LABELS[o] for o in key]] = True
        _ONLY_LUT[key] = lut
    return key


class _Shape:
    bounds: tuple

    def __call__(self, u, v, w):  # pragma: no cover - interface
        raise NotImplementedError


class _Ellipsoid(_Shape):
    def __init__(self, cu, cv, cw, ru, rv, rw):
        self.c, self.r = (cu, cv, cw), (ru, rv, rw)
        self.bounds = (cu - ru, cu + ru, cv - rv, cv + rv, cw - rw, cw + rw)

    def __call__(self, u, v, w):
        (cu, cv, cw), (ru, rv, rw) = self.c, self.r
        return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 + ((w - cw) / rw) ** 2 <= 1.0


class _Box(_Shape):
    def __init__(self, u0, u1, v0, v1, w0, w1):
        self.bounds = (u0, u1, v0, v1, w0, w1)

    def __call__(self, u, v, w):
        u0, u1, v0, v1, w0, w1 = self.bounds
        return (u >= u0) & (u <= u1) & (v >= v0) & (v <= v1) & (w >= w0) & (w <= w1)


class _Fn(_Shape):
    def __init__(self, fn, bounds):
        self.fn, self.bounds = fn, bounds

    def __call__(self, u, v, w):
        return self.fn(u, v, w)


_ellipsoid = _Ellipsoid
_box = _Box


def _vertebral_body(a_lr, b_ap, half_h, concavity=1.2, shrink=0.0):
    """Kidney-ish superellipse cylinder with a flat posterior wall and concave endplates."""
    def fn(u, v, w):
        a, b = a_lr - shrink, b_ap - shrink
        r = np.abs(u / a) ** 2.4 + np.abs(v / b) ** 2.4
        hh = half_h - shrink - concavity * np.clip(1.0 - r, 0.0, 1.0)
        return (r <= 1.0) & (v <= 0.8 * b_ap - shrink) & (np.abs(w) <= hh)
    return _Fn(fn, (-a_lr, a_lr, -b_ap, 0.8 * b_ap, -half_h, half_h))


def _disc(a_lr, b_ap, half_h, bulge=1.0):
    def fn(u, v, w):
        r = np.abs(u / (a_lr * bulge)) ** 2.4 + np.abs(v / (b_ap * bulge)) ** 2.4
        return (r <= 1.0) & (v <= 0.8 * b_ap * bulge) & (np.abs(w) <= half_h)
    return _Fn(fn, (-a_lr * bulge, a_lr * bulge, -b_ap * bulge, 0.8 * b_ap * bulge, -half_h, half_h))


# --------------------------------------------------------------------------------------------


def case_findings(seed: int, prevalence: dict[str, float] | None = None) -> list[Finding]:
    """The findings (reference standard) of case ``seed`` without building the volume."""
    rng = np.random.default_rng(seed)
    draw_anatomy(rng)
    return draw_findings(rng, prevalence)


def make_phantom(
    seed: int,
    *,
    spacing_mm: float = 0.8,
    prevalence: dict[str, float] | None = None,
    findings: list[Finding] | None = None,
) -> Phantom:
    """Build case ``seed``: anatomy and findings drawn from ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    seed : int
        Case seed; the same seed always gives the same anatomy and findings.
    spacing_mm : float
        Isotropic voxel size of the label volume (0.8 mm for real series; 1.5-2 mm is
        enough for tests).
    prevalence : dict, optional
        Per-level prevalence per finding (see DEFAULT_PREVALENCE).
    findings : list of Finding, optional
        Force a set of findings instead of drawing them (tests).
    """
    if spacing_mm <= 0:
        raise ValueError("spacing_mm must be positive")
    rng = np.random.default_rng(seed)
    anatomy = draw_anatomy(rng)
    drawn = draw_findings(rng, prevalence)
    if findings is not None:
        forced = {(f.level, f.finding): f for f in findings}
        drawn = [forced.get((f.level, f.finding), Finding(f.level, f.finding, False)) for f in drawn]
    present = {(f.level, f.finding): f for f in drawn if f.present}
    # Degenerated discs lose height (done before the layout so the stack stays continuous).
    for li, level in enumerate(LEVELS):
        if (level, "disc_degeneration") in present:
            anatomy.disc_heights_mm[li] *= 0.78
    # Conus medullaris tip between the lower third of L1 and the L1-L2 disc.
    vertebrae, discs = _layout(anatomy)
    l1, l12 = vertebrae["L1"].center[2], discs["L1-L2"].center[2]
    anatomy.conus_z_mm = float(l1 + rng.uniform(-1.0, 0.2) * (l1 - l12) * 0.9)

    canvas = _Canvas(spacing_mm)
    _paint_trunk(canvas, anatomy, vertebrae, discs, present)
    _paint_spine(canvas, anatomy, vertebrae, discs, present, rng)
    return Phantom(
        seed=seed, labels=canvas.labels, origin_mm=canvas.origin, spacing_mm=canvas.spacing,
        anatomy=anatomy, findings=drawn, vertebra_frames=vertebrae, disc_frames=discs,
    )


def _sac_geometry(a: Anatomy, vertebrae, discs, present, z: float):
    """Dural sac centre offset (posterior of the body centre) and semi-axes at height z,
    with the stenotic waists of the levels that have canal stenosis."""
    i = min(range(len(VERTEBRAE)), key=lambda k: abs(vertebrae[VERTEBRAE[k]].center[2] - z))
    b = a.body_semi_ap_mm[i]
    offset = 0.8 * b + 1.5 + a.sac_semi_ap_mm
    ap, lr = a.sac_semi_ap_mm, a.sac_semi_lr_mm
    for level in LEVELS:
        if (level, "spinal_stenosis") in present:
            sev = present[(level, "spinal_stenosis")].details.get("severity", 0.55)
            dz = z - discs[level].center[2]
            f = 1.0 - sev * math.exp(-((dz / 7.0) ** 2))
            ap *= f
            lr *= 1.0 - 0.35 * sev * math.exp(-((dz / 7.0) ** 2))
            offset -= (a.sac_semi_ap_mm - a.sac_semi_ap_mm * f) * 0.3
    return offset, ap, lr


def _paint_trunk(canvas: _Canvas, a: Anatomy, vertebrae, discs, present) -> None:
    """Everything drawn plane by plane along z: skin and fat, muscles, viscera, vessels, canal,
    dural sac and cord. Within each axial plane the spine's local tilt is accounted for by
    stretching AP semi-axes by 1/cos(tilt)."""
    xa, ya = canvas.axes[0], canvas.axes[1]
    sp = canvas.spacing
    L = LABELS
    top = vertebrae["T12"].center[2] + 40
    l1 = vertebrae["L1"].center[2]
    l4 = vertebrae["L4"].center[2]
    s2 = vertebrae["S2"].center[2]
    sac_end = vertebrae["S2"].center[2] + 6
    shift = a.lateral_shift_mm

    def window(cx, cy, rx, ry):
        i0 = max(0, int((cx + shift - rx - xa[0]) / sp) - 1)
        i1 = min(xa.size, int((cx + shift + rx - xa[0]) / sp) + 2)
        j0 = max(0, int((cy - ry - ya[0]) / sp) - 1)
        j1 = min(ya.size, int((cy + ry - ya[0]) / sp) + 2)
        return slice(i0, max(i0, i1)), slice(j0, max(j0, j1))

    def inside(X, Y, cx, cy, rx, ry):
        return ((X - cx) / rx) ** 2 + ((Y - cy) / ry) ** 2 <= 1.0

    for k, z in enumerate(canvas.axes[2]):
        plane = canvas.labels[:, :, k]
        yc = float(_curve_y(a, z))
        stretch = math.hypot(1.0, float(_curve_dy(a, z)))
        y_post = yc * 0.5 + a.posterior_depth_mm + a.fat_mm
        ry = a.trunk_semi_ap_mm
        cy = y_post - ry
        inner = (0.0, cy, a.trunk_semi_lr_mm - a.fat_mm, ry - a.fat_mm)
        deep = (0.0, cy, inner[2] - 10, inner[3] - 10)

        def paint(ell, label, *, within=None, cond=None):
            sx, sy = window(*ell)
            if sx.stop <= sx.start or sy.stop <= sy.start:
                return
            X = (xa[sx] - shift)[:, None]
            Y = ya[sy][None, :]
            m = inside(X, Y, *ell)
            if within is not None:
                m = m & inside(X, Y, *within)
            if cond is not None:
                m = m & cond(X, Y)
            plane[sx, sy][m] = L[label]

        paint((0.0, cy, a.trunk_semi_lr_mm, ry), "subcutaneous_fat")
        paint(inner, "muscle")
        paint(deep, "viscera", cond=lambda X, Y: Y < yc + 10)
        # Retroperitoneal fat around the spine and psoas.
        paint((0.0, yc + 5, 75, 45), "subcutaneous_fat", within=deep)
        if z < top:
            # Erector spinae / multifidus, either side of the spinous processes.
            for side in (-1, 1):
                paint((side * 30.0, yc + 48, 27, 20 * stretch), "muscle", within=inner)
            # Psoas, growing caudally from L1.
            if z < l1 + 10:
                grow = float(np.clip((l1 - z) / 120.0, 0.0, 1.0))
                for side in (-1, 1):
                    paint((side * (26 + 14 * grow), yc - 4, 7 + 14 * grow, 8 + 10 * grow), "muscle")
            # Aorta (patient left, +x) and IVC (right) anterior to the bodies, down to L4.
            if z > l4:
                paint((14.0, yc - 32, 10, 10), "vessel")
                paint((-20.0, yc - 30, 11, 8), "vessel")
            else:
                for side in (-1, 1):  # common iliac vessels
                    paint((side * (20 + (l4 - z) * 0.4), yc - 28, 6, 6), "vessel")
        # Bony canal lined with epidural fat, then the dural sac and its contents.
        offset, sac_ap, sac_lr = _sac_geometry(a, vertebrae, discs, present, z)
        yc_canal = yc + offset * stretch
        if z > s2 - 15:
            paint((0.0, yc_canal + 1.0, a.sac_semi_lr_mm + 3.0, (a.sac_semi_ap_mm + 3.0) * stretch), "epidural_fat")
        if z > sac_end:
            paint((0.0, yc_canal, sac_lr, sac_ap * stretch), "csf")
            # Cord tapering to the conus tip; cauda equina roots below, lying posteriorly (supine).
            if z > a.conus_z_mm:
                r = a.cord_radius_mm * math.sqrt(min(1.0, (z - a.conus_z_mm) / 18.0))
                paint((0.0, yc_canal, r * 1.15, r * stretch), "cord")
            if z < a.conus_z_mm + 5:
                for ux in (-4.5, -2.0, 2.0, 4.5):
                    paint((ux * min(1.0, sac_lr / a.sac_semi_lr_mm), yc_canal + sac_ap * 0.45 * stretch, 1.1, 1.1), "nerve_root")


def _paint_spine(canvas: _Canvas, a: Anatomy, vertebrae, discs, present, rng) -> None:
    L = LABELS
    # Vertebral bodies: cortical shell then marrow.
    for i, name in enumerate(VERTEBRAE):
        f = vertebrae[name]
        lr, ap, hh = a.body_semi_lr_mm[i], a.body_semi_ap_mm[i], a.body_heights_mm[i] / 2
        canvas.paint(f, _vertebral_body(lr, ap, hh), "cortical_bone")
        canvas.paint(f, _vertebral_body(lr, ap, hh, shrink=1.0), "marrow")
    # Discs: annulus fills the gap (incl. the endplate concavity), nucleus inside.
    for li, level in enumerate(LEVELS):
        f = discs[level]
        lr = (a.body_semi_lr_mm[li] + a.body_semi_lr_mm[li + 1]) / 2
        ap = (a.body_semi_ap_mm[li] + a.body_semi_ap_mm[li + 1]) / 2
        hh = a.disc_heights_mm[li] / 2
        canvas.paint(f, _disc(lr, ap, hh + 1.3), "disc_annulus", only=("marrow", "cortical_bone", "epidural_fat", "subcutaneous_fat", "muscle", "viscera", "vessel", "air"))
        canvas.paint(f, _disc(lr, ap, hh + 1.2), "disc_annulus", only=("disc_annulus", "cortical_bone"))
        nucleus = "disc_nucleus_desiccated" if (level, "disc_degeneration") in present else "disc_nucleus"
        canvas.paint(f, _ellipsoid(0, 0.1 * ap, 0, 0.55 * lr, 0.5 * ap, hh * 0.75 + 0.8), nucleus, only=("disc_annulus",))
        if (level, "disc_bulge") in present:
            # Circumferential extension of the annulus 2.5-3.5 mm beyond the endplates.
            bulge = 1.0 + 3.0 / ap
            canvas.paint(f, _disc(lr, ap, hh * 0.8, bulge=bulge), "disc_annulus",
                         only=("epidural_fat", "csf", "subcutaneous_fat", "muscle", "vessel", "nerve_root", "viscera"))
    _paint_posterior_elements(canvas, a, vertebrae, discs, present)
    _paint_pathology(canvas, a, vertebrae, discs, present)


def _paint_posterior_elements(canvas: _Canvas, a: Anatomy, vertebrae, discs, present) -> None:
    soft = ("subcutaneous_fat", "muscle", "viscera", "epidural_fat", "air")
    for i, name in enumerate(VERTEBRAE):
        f = vertebrae[name]
        ap, hh = a.body_semi_ap_mm[i], a.body_heights_mm[i] / 2
        canal_c = 0.8 * ap + 1.5 + a.sac_semi_ap_mm
        canal_post = canal_c + a.sac_semi_ap_mm + 3.0
        sac_lr = a.sac_semi_lr_mm
        sacral = name in ("S1", "S2")
        # Foramina lie between this pedicle and the next one down: fat with the exiting root.
        if i < len(LEVELS):
            level = LEVELS[i]
            for side in (-1, 1):
                cu = side * (sac_lr + 7.5)
                fz = -hh * 0.55
                canvas.paint(f, _ellipsoid(cu, 0.8 * ap + 5.5, fz, 5.0, 5.0, 8.5), "epidural_fat", only=soft)
                canvas.paint(f, _ellipsoid(cu, 0.8 * ap + 5.0, fz + 2.5, 2.3, 2.3, 2.3), "nerve_root", only=("epidural_fat",))
        # Pedicles (upper half of the body), laminae, spinous and transverse processes.
        for side in (-1, 1):
            cu = side * (sac_lr + 4.0)
            canvas.paint(f, _ellipsoid(cu, 0.8 * ap + 6.0, hh * 0.25, 4.0, 8.0, hh * 0.45), "cortical_bone", only=soft + ("csf",))
            canvas.paint(f, _ellipsoid(cu, 0.8 * ap + 6.0, hh * 0.25, 3.0, 7.0, hh * 0.45 - 1.0), "marrow", only=("cortical_bone",))
            if not sacral:
                canvas.paint(f, _box(min(side * 16, side * 42), max(side * 16, side * 42), canal_c - 4, canal_c + 4, -3 + hh * 0.2, 4 + hh * 0.2), "cortical_bone", only=soft)
                canvas.paint(f, _box(min(side * 17, side * 41), max(side * 17, side * 41), canal_c - 3, canal_c + 3, -2 + hh * 0.2, 3 + hh * 0.2), "marrow", only=("cortical_bone",))
        lam = _box(-sac_lr - 6, sac_lr + 6, canal_post, canal_post + 6, -hh - 2, hh * 0.6)
        canvas.paint(f, lam, "cortical_bone", only=soft)
        canvas.paint(f, _box(-sac_lr - 5, sac_lr + 5, canal_post + 1, canal_post + 5, -hh - 1, hh * 0.6 - 1), "marrow", only=("cortical_bone",))
        sp_len = 20.0 if sacral else 32.0
        canvas.paint(f, _box(-3.5, 3.5, canal_post + 4, canal_post + sp_len, -hh * 0.55, hh * 0.35), "cortical_bone", only=soft)
        canvas.paint(f, _box(-2.5, 2.5, canal_post + 5, canal_post + sp_len - 1, -hh * 0.55 + 1, hh * 0.35 - 1), "marrow", only=("cortical_bone",))
    # Facet joints and ligamentum flavum at each disc level.
    for li, level in enumerate(LEVELS):
        f = discs[level]
        ap = (a.body_semi_ap_mm[li] + a.body_semi_ap_mm[li + 1]) / 2
        canal_c = 0.8 * ap + 1.5 + a.sac_semi_ap_mm
        canal_post = canal_c + a.sac_semi_ap_mm + 3.0
        stenosis = (level, "spinal_stenosis") in present
        grow = 1.3 if stenosis else 1.0
        flavum = 6.0 if stenosis else 3.0
        for side in (-1, 1):
            cu, cv = side * (a.sac_semi_lr_mm + 8.0), canal_c + a.sac_semi_ap_mm + 1.0
            pillar = _ellipsoid(cu, cv, 0, 6.0 * grow, 7.0 * grow, 11.0)
            canvas.paint(f, pillar, "cortical_bone", only=("subcutaneous_fat", "muscle", "epidural_fat"))
            canvas.paint(f, _ellipsoid(cu, cv, 0, 5.0 * grow, 6.0 * grow, 10.0), "marrow", only=("cortical_bone",))
            # Joint space: an oblique plane (~45 degrees from sagittal) through the pillar.
            c, s = math.cos(math.radians(45)), math.sin(math.radians(45)) * side

            def joint(u, v, w, cu=cu, cv=cv, c=c, s=s):
                return (np.abs((u - cu) * c - (v - cv) * s) <= 0.9) & pillar(u, v, w)

            canvas.paint(f, _Fn(joint, pillar.bounds), "facet_fluid", only=("marrow", "cortical_bone"))
        canvas.paint(f, _box(-a.sac_semi_lr_mm - 2, a.sac_semi_lr_mm + 2, canal_post - flavum, canal_post, -8, 8),
                     "ligament", only=("epidural_fat", "csf", "nerve_root"))


def _paint_pathology(canvas: _Canvas, a: Anatomy, vertebrae, discs, present) -> None:
    for li, level in enumerate(LEVELS):
        f = discs[level]
        upper, lower = vertebrae[VERTEBRAE[li]], vertebrae[VERTEBRAE[li + 1]]
        ap = (a.body_semi_ap_mm[li] + a.body_semi_ap_mm[li + 1]) / 2
        hh = a.disc_heights_mm[li] / 2
        canal_c = 0.8 * ap + 1.5 + a.sac_semi_ap_mm
        if (level, "disc_herniation") in present:
            d = present[(level, "disc_herniation")].details
            cu = {"central": 0.0, "left": 6.0, "right": -6.0}[d.get("position", "central")]
            size = d.get("size_mm", 5.5)
            canvas.paint(f, _ellipsoid(cu, 0.8 * ap + size * 0.6, 0.0, size * 1.2, size, max(hh, size * 0.8)),
                         "herniated_nucleus", only=("disc_annulus", "disc_nucleus", "disc_nucleus_desiccated", "epidural_fat", "csf", "nerve_root", "ligament"))
        if (level, "foraminal_stenosis") in present:
            side = 1 if present[(level, "foraminal_stenosis")].details.get("side") == "left" else -1
            uf = upper
            hh_u = a.body_heights_mm[li] / 2
            ap_u = a.body_semi_ap_mm[li]
            canvas.paint(uf, _ellipsoid(side * (a.sac_semi_lr_mm + 7.5), 0.8 * ap_u + 5.5, -hh_u * 0.55 - 1.5, 5.0, 4.5, 7.0),
                         "disc_annulus", only=("epidural_fat", "nerve_root"))
            canvas.paint(uf, _ellipsoid(side * (a.sac_semi_lr_mm + 7.5), 0.8 * ap_u + 6.5, -hh_u * 0.55 + 4.0, 1.4, 1.4, 1.4),
                         "nerve_root", only=("disc_annulus",))
        if (level, "facet_synovial_cyst") in present:
            side = 1 if present[(level, "facet_synovial_cyst")].details.get("side") == "left" else -1
            cu, cv = side * (a.sac_semi_lr_mm - 1.0), canal_c + a.sac_semi_ap_mm - 0.5
            canvas.paint(f, _ellipsoid(cu, cv, 1.0, 5.2, 5.2, 6.2), "ligament", only=("epidural_fat", "csf", "ligament", "nerve_root", "marrow", "cortical_bone"))
            canvas.paint(f, _ellipsoid(cu, cv, 1.0, 4.2, 4.2, 5.2), "cyst_fluid", only=("ligament",))
        if (level, "modic_changes") in present:
            kind = present[(level, "modic_changes")].details.get("type", 1)
            label = "modic1_marrow" if kind == 1 else "modic2_marrow"
            for vf, vi, sign in ((upper, li, -1), (lower, li + 1, 1)):
                hv = a.body_heights_mm[vi] / 2
                # Band of marrow within ~7 mm of the endplate facing the disc.
                band = (lambda u, v, w, hv=hv, sign=sign: (sign * w >= hv - 8.0))
                lr_v, ap_v = a.body_semi_lr_mm[vi], a.body_semi_ap_mm[vi]
                canvas.paint(vf, _Fn(band, (-lr_v, lr_v, -ap_v, ap_v, -hv - 2, hv + 2)), label, only=("marrow",))
        if (level, "schmorl_nodes") in present:
            d = present[(level, "schmorl_nodes")].details
            vf, vi, sign = (lower, li + 1, 1) if d.get("endplate") == "inferior" else (upper, li, -1)
            hv = a.body_heights_mm[vi] / 2
            off = d.get("offset_mm", 0.0)
            cw = sign * (hv - 3.0)
            canvas.paint(vf, _ellipsoid(off, 0.0, cw, 5.5, 5.5, 5.0), "cortical_bone", only=("marrow",))
            canvas.paint(vf, _ellipsoid(off, 0.0, cw, 4.0, 4.0, 3.8), "herniated_nucleus", only=("cortical_bone", "marrow"))


# --------------------------------------------------------------------------------------------
# Sampling the volume for a prescription


def _slab_weights(axis_mm: np.ndarray, centers_mm: np.ndarray, thickness_mm: float, spacing_mm: float) -> np.ndarray:
    """(n_slices, n_axis) weights averaging voxels over a rectangular slice profile."""
    lo = axis_mm[None, :] - spacing_mm / 2
    hi = axis_mm[None, :] + spacing_mm / 2
    a = centers_mm[:, None] - thickness_mm / 2
    b = centers_mm[:, None] + thickness_mm / 2
    overlap = np.clip(np.minimum(hi, b) - np.maximum(lo, a), 0.0, None)
    return overlap / thickness_mm


def _linear_weights(axis_mm: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    """(n_points, n_axis) linear-interpolation matrix from a regular grid to points."""
    spacing = axis_mm[1] - axis_mm[0]
    pos = (points_mm - axis_mm[0]) / spacing
    i0 = np.floor(pos).astype(int)
    frac = pos - i0
    out = np.zeros((points_mm.size, axis_mm.size), dtype=np.float32)
    rows = np.arange(points_mm.size)
    for idx, wt in ((i0, 1.0 - frac), (i0 + 1, frac)):
        ok = (idx >= 0) & (idx < axis_mm.size)
        out[rows[ok], idx[ok]] = wt[ok]
    return out


def render_signal(phantom: Phantom, lut: np.ndarray, geometry) -> np.ndarray:
    """Noise-free signal of each slice of an axis-aligned prescription, (slices, rows, cols).

    The label volume is mapped through ``lut`` (signal per label), averaged over the slice
    profile (rectangular, ``geometry.slice_thickness_mm``) and interpolated linearly in plane.
    ``geometry`` is a :class:`recon.acquisition.Geometry`.
    """
    normal_axis = geometry.normal_axis
    row_axis, col_axis = geometry.row_axis, geometry.col_axis
    axes = [phantom.axis_mm(k) for k in "xyz"]
    centers = np.array([p[normal_axis] for p in geometry.slice_centers_mm()])
    wn = _slab_weights(axes[normal_axis], centers, geometry.slice_thickness_mm, phantom.spacing_mm)
    used = np.nonzero(wn.sum(axis=0))[0]
    if used.size == 0:
        raise ValueError("prescription does not intersect the phantom")
    # Coordinates of pixel centres along the in-plane axes.
    rows_mm, cols_mm = geometry.in_plane_coordinates_mm()
    wr = _linear_weights(axes[row_axis], rows_mm)  # (rows, n_row_axis)
    wc = _linear_weights(axes[col_axis], cols_mm)  # (cols, n_col_axis)
    lab = np.take(phantom.labels, used, axis=normal_axis)
    # Move axes to (normal, row_axis, col_axis).
    lab = np.moveaxis(lab, (normal_axis, row_axis, col_axis), (0, 1, 2))
    out = np.empty((len(centers), len(rows_mm), len(cols_mm)), dtype=np.float32)
    wn_used = wn[:, used].astype(np.float32)
    r_used = np.nonzero(wr.sum(axis=0))[0]
    c_used = np.nonzero(wc.sum(axis=0))[0]
    wr_u, wc_u = wr[:, r_used], wc[:, c_used]
    lab = lab[:, r_used][:, :, c_used]
    for s in range(len(centers)):
        nz = np.nonzero(wn_used[s])[0]
        plane = np.zeros(lab.shape[1:], dtype=np.float32)
        for j in nz:
            plane += wn_used[s, j] * lut[lab[j]]
        out[s] = wr_u @ plane @ wc_u.T
    return out


def sample_labels(phantom: Phantom, geometry) -> np.ndarray:
    """Label at the centre of each pixel (nearest voxel), (slices, rows, cols): for choosing
    ROIs in tests and measurements (partial volume is not represented)."""
    axes = [phantom.axis_mm(k) for k in "xyz"]
    centers = geometry.slice_centers_mm()
    rows_mm, cols_mm = geometry.in_plane_coordinates_mm()

    def idx(axis, mm):
        return np.clip(np.rint((np.asarray(mm) - axes[axis][0]) / phantom.spacing_mm).astype(int), 0, axes[axis].size - 1)

    out = np.empty((len(centers), len(rows_mm), len(cols_mm)), dtype=np.uint8)
    for s, c in enumerate(centers):
        index = [None, None, None]
        index[geometry.normal_axis] = np.full((len(rows_mm), len(cols_mm)), idx(geometry.normal_axis, c[geometry.normal_axis]))
        index[geometry.row_axis] = idx(geometry.row_axis, rows_mm)[:, None] * np.ones((1, len(cols_mm)), int)
        index[geometry.col_axis] = idx(geometry.col_axis, cols_mm)[None, :] * np.ones((len(rows_mm), 1), int)
        out[s] = phantom.labels[tuple(index)]
    return out
