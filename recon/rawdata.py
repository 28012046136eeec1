"""Raw multi-coil Cartesian k-space in (fastMRI HDF5 or ISMRMRD), Standard and Fast out.

Encoded vs recon space
----------------------
The header gives the encoded matrix and field of view (what k-space covers) and the recon
matrix and field of view (the image wanted). Readout oversampling (encoded FOV 2x the recon FOV
along x, as in the released fastMRI data) is removed in the *image* domain: inverse FFT of the
whole readout, then the centre of the image is kept, as the fastMRI reference
(``reconstruction_rss``) does. Where k-space has fewer samples than the recon grid needs
(lower acquired resolution), it is zero-filled first. For each axis::

    n_grid = round(n_recon * FOV_encoded / FOV_recon)   # k-space zero-filled (or cut) to this
    image  = centre n_recon pixels of ifft(k-space on n_grid)

fastMRI files follow their reference instead where the header's FOVs do not say it (encoded and
recon FOV equal but a larger encoded matrix): the image is cropped, never k-space.

Arms
----
Standard: every average (mean of the averages' k-space), root-sum-of-squares of the coils.
Fast, from the protocol's Fast acquisition of the same data:

- fewer averages (NEX 2 -> 1): the mean of the first averages only, a real independent
  acquisition; with a single average in the file the missing noise is added in k-space with
  the per-channel noise SD measured on the coil images' air (or given);
- partial Fourier (NEX 0.5): the first average, ``partial_fourier`` of the phase lines, homodyne;
- parallel imaging R with ACS lines: the first average, every R-th line plus the ACS lines,
  SENSE with sensitivities estimated from the ACS lines (no separate calibration scan needed).

Geometry: pixel spacing and slice thickness from the header; position and orientation from the
ISMRMRD acquisition headers (``position``, ``read_dir``, ``phase_dir``); fastMRI files carry none,
so the protocol's plane is used and ``recon.json`` says so.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from . import acquisition as acq
from . import reconstruction as rec
from .dicom_out import SeriesMeta, build_instance
from .protocols import DEFAULT_PROTOCOL_SET, ArmAcquisition, Protocol, get_protocol, protocol_set

_NS = {"m": "http://www.ismrm.org/ISMRMRD"}


class RawDataError(ValueError):
    """A raw-data file the recon cannot use; the message names the problem."""


@dataclass
class RawData:
    kspace: np.ndarray  # (averages, slices, coils, readout, phase) complex64
    encoded_matrix: tuple[int, int]
    encoded_fov_mm: tuple[float, float, float]
    recon_matrix: tuple[int, int]
    recon_fov_mm: tuple[float, float, float]
    layout: str  # "fastmri" or "ismrmrd"
    protocol_name: str = ""
    patient_id: str = ""
    # Per slice: {"position": (3,), "read_dir": (3,), "phase_dir": (3,), "slice_dir": (3,)} or None.
    slice_geometry: list | None = None
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------------------------------
# Reading


def _text(root, path: str, what: str, source: str) -> str:
    node = root.find(path, _NS)
    if node is None or node.text is None:
        raise RawDataError(f"{source}: the ISMRMRD header lacks {what} ({path.replace('m:', '')})")
    return node.text


def _spaces(xml: str, source: str) -> dict:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise RawDataError(f"{source}: the ISMRMRD header is not valid XML ({exc})") from None
    out = {}
    for space in ("encodedSpace", "reconSpace"):
        base = f"m:encoding/m:{space}"
        out[space] = (
            tuple(int(_text(root, f"{base}/m:matrixSize/m:{a}", f"{space} matrix size {a}", source)) for a in "xy"),
            tuple(float(_text(root, f"{base}/m:fieldOfView_mm/m:{a}", f"{space} field of view {a}", source)) for a in "xyz"),
        )
    node = root.find("m:measurementInformation/m:protocolName", _NS)
    out["protocol"] = node.text if node is not None and node.text else ""
    return out


def read_fastmri_file(path: Path) -> RawData:
    with h5py.File(path, "r") as f:
        missing = [k for k in ("kspace", "ismrmrd_header") if k not in f]
        if missing:
            raise RawDataError(f"{path.name}: not a fastMRI file (missing {missing})")
        kspace = f["kspace"][()]
        header = f["ismrmrd_header"][()]
        protocol = str(f.attrs.get("acquisition", ""))
        patient = str(f.attrs.get("patient_id", ""))
    if kspace.ndim == 3:  # single-coil fastMRI: (slices, readout, phase)
        kspace = kspace[:, None]
    if kspace.ndim != 4 or not np.iscomplexobj(kspace):
        raise RawDataError(f"{path.name}: 'kspace' must be complex (slices, coils, readout, phase), got {kspace.dtype} {kspace.shape}")
    spaces = _spaces(header.decode() if isinstance(header, bytes) else str(header), path.name)
    return RawData(
        kspace=kspace[None].astype(np.complex64, copy=False), encoded_matrix=spaces["encodedSpace"][0], encoded_fov_mm=spaces["encodedSpace"][1],
        recon_matrix=spaces["reconSpace"][0], recon_fov_mm=spaces["reconSpace"][1], layout="fastmri",
        protocol_name=protocol or spaces["protocol"], patient_id=patient,
        notes=["fastMRI files carry no patient position: the slices are placed by the protocol's plane around the origin"],
    )


def read_ismrmrd_file(path: Path) -> RawData:
    try:
        import ismrmrd
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise RawDataError("reading ISMRMRD needs the 'ismrmrd' package") from exc
    dset = ismrmrd.Dataset(str(path), "dataset", create_if_needed=False)
    try:
        xml = dset.read_xml_header()
        xml = xml.decode() if isinstance(xml, bytes) else str(xml)
        spaces = _spaces(xml, path.name)
        n = dset.number_of_acquisitions()
        if n == 0:
            raise RawDataError(f"{path.name}: the ISMRMRD file has no acquisitions")
        acqs = []
        for i in range(n):
            a = dset.read_acquisition(i)
            if a.is_flag_set(ismrmrd.ACQ_IS_NOISE_MEASUREMENT) or a.is_flag_set(ismrmrd.ACQ_IS_NAVIGATION_DATA) \
                    or a.is_flag_set(ismrmrd.ACQ_IS_PHASECORR_DATA) or a.is_flag_set(ismrmrd.ACQ_IS_DUMMYSCAN_DATA):
                continue
            acqs.append(a)
    finally:
        dset.close()
    if not acqs:
        raise RawDataError(f"{path.name}: no imaging acquisitions (only noise/navigator data)")
    if any(a.traj.size for a in acqs):
        raise RawDataError(f"{path.name}: non-Cartesian trajectory; only Cartesian 2D data are reconstructed")
    coils, samples = acqs[0].data.shape
    ny = spaces["encodedSpace"][0][1]
    steps = [int(a.idx.kspace_encode_step_1) for a in acqs]
    if max(steps) >= ny:
        raise RawDataError(f"{path.name}: encode step {max(steps)} outside the encoded matrix ({ny} lines)")
    slices = sorted({int(a.idx.slice) for a in acqs})
    averages = sorted({int(a.idx.average) for a in acqs})
    k = np.zeros((len(averages), len(slices), coils, samples, ny), np.complex64)
    filled = np.zeros((len(averages), len(slices), ny), bool)
    geometry: dict[int, dict] = {}
    for a in acqs:
        if a.data.shape != (coils, samples):
            raise RawDataError(f"{path.name}: acquisitions differ in coils or samples ({a.data.shape} vs {(coils, samples)})")
        ai, si, line = averages.index(int(a.idx.average)), slices.index(int(a.idx.slice)), int(a.idx.kspace_encode_step_1)
        k[ai, si, :, :, line] = a.data
        filled[ai, si, line] = True
        geometry.setdefault(si, {name: tuple(float(x) for x in getattr(a, name)) for name in ("position", "read_dir", "phase_dir", "slice_dir")})
    if not filled.any(axis=-1).all():
        raise RawDataError(f"{path.name}: some slice has no lines in some average")
    has_geometry = all(np.linalg.norm(g["read_dir"]) > 0.5 and np.linalg.norm(g["phase_dir"]) > 0.5 for g in geometry.values())
    return RawData(
        kspace=k, encoded_matrix=spaces["encodedSpace"][0], encoded_fov_mm=spaces["encodedSpace"][1],
        recon_matrix=spaces["reconSpace"][0], recon_fov_mm=spaces["reconSpace"][1], layout="ismrmrd",
        protocol_name=spaces["protocol"], slice_geometry=[geometry[i] for i in range(len(slices))] if has_geometry else None,
        notes=[] if has_geometry else ["the acquisitions carry no orientation: the protocol's plane is used"],
    )


def read_raw(path: Path | str) -> RawData:
    """Read a fastMRI HDF5 or ISMRMRD file; anything else is refused by name."""
    path = Path(path)
    if not path.is_file():
        raise RawDataError(f"{path}: no such file (give a fastMRI .h5 or an ISMRMRD .h5 file)")
    try:
        with h5py.File(path, "r") as f:
            keys = set(f.keys())
            is_ismrmrd = "dataset" in keys and isinstance(f["dataset"], h5py.Group) and "xml" in f["dataset"]
    except OSError:
        raise RawDataError(f"{path.name}: not an HDF5 file (expected fastMRI or ISMRMRD raw data)") from None
    if "kspace" in keys:
        return read_fastmri_file(path)
    if is_ismrmrd:
        return read_ismrmrd_file(path)
    raise RawDataError(
        f"{path.name}: an HDF5 file that is neither fastMRI ('kspace' + 'ismrmrd_header') nor ISMRMRD "
        f"('dataset/xml' + 'dataset/data'); it has {sorted(keys)}"
    )


# ------------------------------------------------------------------------------------------
# Reconstruction


def grid_sizes(raw: RawData) -> tuple[tuple[int, int], tuple[int, int]]:
    """(k-space grid size, recon size) along (readout, phase); see the module docstring."""
    grid = []
    for axis in range(2):
        n_k = raw.kspace.shape[-2 + axis]
        n_r = raw.recon_matrix[axis]
        ratio = raw.encoded_fov_mm[axis] / raw.recon_fov_mm[axis] if raw.recon_fov_mm[axis] > 0 else 1.0
        n_grid = max(n_r, round(n_r * ratio))
        if raw.layout == "fastmri":
            n_grid = max(n_grid, n_k)  # the fastMRI reference crops the image, never k-space
        grid.append(n_grid)
    return (grid[0], grid[1]), (raw.recon_matrix[0], raw.recon_matrix[1])


def to_grid(k: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Centre (coils, readout, phase) k-space on a grid of ``shape`` (zero-fill or cut)."""
    out = np.zeros(k.shape[:-2] + tuple(shape), dtype=k.dtype)
    src, dst = [], []
    for n_in, n_out in zip(k.shape[-2:], shape, strict=True):
        if n_in <= n_out:
            a = n_out // 2 - n_in // 2
            src.append(slice(0, n_in))
            dst.append(slice(a, a + n_in))
        else:
            a = n_in // 2 - n_out // 2
            src.append(slice(a, a + n_out))
            dst.append(slice(0, n_out))
    out[(..., *dst)] = k[(..., *src)]
    return out


def crop_image(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Centre crop of the last two axes (the fastMRI reference's centre crop)."""
    r, c = image.shape[-2:]
    a, b = (r - shape[0]) // 2, (c - shape[1]) // 2
    return image[..., a : a + shape[0], b : b + shape[1]]


def reconstruct(kspace: np.ndarray, raw: RawData, arm: ArmAcquisition | None = None) -> np.ndarray:
    """(slices, coils, readout, phase) k-space of one average (or their mean) -> magnitude
    (slices, recon readout, recon phase). ``arm`` None: fully sampled RSS."""
    grid, recon = grid_sizes(raw)
    n_phase = kspace.shape[-1]
    out = []
    for k in kspace:
        g = k if k.shape[-2:] == tuple(grid) else to_grid(k, grid)
        n = g.shape[-1]
        acquired = min(n_phase, n)
        if arm is None or (not arm.is_partial_fourier and arm.acceleration == 1):
            image = rec.rss(crop_image(acq.ifft2c(g), recon))  # crop first: RSS of what is kept only
        elif arm.is_partial_fourier:
            lines = acq.partial_fourier_lines(n, acquired, arm.partial_fourier)
            image = rec.homodyne(g * lines[None, None, :], -1)
        else:
            lines = acq.undersampled_lines(n, acquired, arm.acceleration, arm.calibration_lines)
            if arm.calibration_lines < 8:
                raise RawDataError(f"parallel imaging R = {arm.acceleration} needs ACS lines to calibrate; the protocol has {arm.calibration_lines}")
            if g.shape[0] < arm.acceleration:
                raise RawDataError(f"parallel imaging R = {arm.acceleration} needs at least {arm.acceleration} coils; the data have {g.shape[0]}")
            sub = g * lines[None, None, :]
            sens = rec.estimate_sensitivities(sub, -1, arm.calibration_lines)
            image = np.abs(rec.sense_unfold(sub, sens, arm.acceleration, -1))
        out.append(crop_image(np.asarray(image), recon))
    return np.stack(out).astype(np.float32)


def coil_noise_sd(raw: RawData) -> float:
    """Per-channel noise SD of the k-space (= of the orthonormal coil images) from the air of
    the coil images of the first average (each coil image's air is exactly Rayleigh)."""
    from .noise import estimate_noise

    grid, _ = grid_sizes(raw)
    n_slices = raw.kspace.shape[1]
    picked = sorted({round(i) for i in np.linspace(0, n_slices - 1, min(n_slices, 4))})  # a few slices suffice
    images = np.abs(acq.ifft2c(to_grid(raw.kspace[0, picked], grid)))  # (slices, coils, x, y)
    sds = []
    for c in range(images.shape[1]):
        sds.append(estimate_noise(images[:, c]).sigma)
    return float(np.median(sds))


@dataclass
class RawRecon:
    case: str
    sequence: str
    arms: dict[str, np.ndarray]
    datasets: list
    info: dict


def _pick_protocol(raw: RawData, sequence: str | None, protocol_set_name: str) -> Protocol:
    if sequence:
        return get_protocol(sequence, protocol_set_name)
    names = [p.name for p in protocol_set(protocol_set_name)]
    wanted = raw.protocol_name.replace("_", " ").strip().upper()
    for name in names:
        if name.upper() == wanted:
            return get_protocol(name, protocol_set_name)
    raise RawDataError(f"which sequence is this? The header's protocol {raw.protocol_name!r} is none of {names}; give --sequence NAME")


def standard_and_fast(raw: RawData, protocol: Protocol, *, noise_sd: float | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """The Standard (all averages) and the protocol's Fast from the same raw data."""
    std, fast = protocol.arm("Standard"), protocol.arm("Fast")
    n_avg = raw.kspace.shape[0]
    info: dict = {"averages_in_file": n_avg, "standard_nex": std.nex, "fast_nex": fast.nex,
                  "fast_partial_fourier": fast.partial_fourier, "fast_acceleration": fast.acceleration}
    standard = reconstruct(raw.kspace[0] if n_avg == 1 else raw.kspace.mean(axis=0), raw)
    if fast.is_partial_fourier or fast.acceleration > 1:
        if fast.averages != 1 and not fast.is_partial_fourier:
            raise RawDataError("parallel imaging with several averages is not supported")
        first = raw.kspace[0]
        info["fast_from"] = "the first average, retrospectively undersampled"
        return standard, reconstruct(first, raw, fast), info
    ratio = fast.nex / std.nex
    if ratio >= 1:
        info["fast_from"] = "all averages (the protocol's Fast has as many as its Standard)"
        return standard, standard.copy(), info
    keep = n_avg * ratio
    if n_avg > 1:
        if abs(keep - round(keep)) > 1e-6 or round(keep) < 1:
            raise RawDataError(f"the file has {n_avg} averages; NEX {std.nex} -> {fast.nex} needs a multiple of {round(1 / ratio)} averages")
        info["fast_from"] = f"the first {round(keep)} of {n_avg} averages"
        return standard, reconstruct(raw.kspace[: round(keep)].mean(axis=0), raw), info
    # One average in the file, taken as the Standard: add the noise the Fast would have more.
    from .noise import check_noise_sd

    sd = check_noise_sd(noise_sd) if noise_sd is not None else coil_noise_sd(raw)
    added = sd * math.sqrt(1 / ratio - 1)
    rng = np.random.default_rng(seed)
    k = raw.kspace[0]
    noisy = np.empty_like(k)
    for s, ks in enumerate(k):  # slice by slice: complex64 noise, no full-size float64 temporaries
        noise = np.empty(ks.shape, np.complex64)
        noise.real = rng.normal(0, added, ks.shape)
        noise.imag = rng.normal(0, added, ks.shape)
        noisy[s] = ks + noise * (ks != 0)  # only where samples were acquired
    info.update(fast_from="the single average with the missing noise added in k-space", noise_sd=sd,
                noise_method="given" if noise_sd is not None else "air of the coil images (Rayleigh per coil)", added_noise_sd=added)
    return standard, reconstruct(noisy, raw), info


def _datasets(raw: RawData, protocol: Protocol, shape: tuple[int, int, int], *, sequence: str) -> tuple[list, dict]:
    """DICOM headers for the output (one per slice) from the raw header's geometry."""
    from pydicom.uid import generate_uid

    slices, rows, cols = shape
    # Image rows run along the readout, columns along the phase encoding.
    dx_read = raw.recon_fov_mm[0] / rows
    dy_phase = raw.recon_fov_mm[1] / cols
    thickness = raw.recon_fov_mm[2] or protocol.slice_thickness_mm
    geometry_from = "header (ISMRMRD acquisition position and directions)"
    if raw.slice_geometry is None:
        geometry_from = f"protocol plane ({protocol.plane}) around the origin; spacing from the header"
        g = acq.prescribe(protocol, (0.0, 0.0, 0.0), matrix=max(rows, cols), slices=slices)
        read_dir, phase_dir = np.array(g.column_direction), np.array(g.row_direction)
        normal = np.cross(phase_dir, read_dir)
        centres = [np.array(c) for c in g.slice_centers_mm()]
        spacing = g.slice_spacing_mm
    else:
        read_dir = np.array(raw.slice_geometry[0]["read_dir"])
        phase_dir = np.array(raw.slice_geometry[0]["phase_dir"])
        normal = np.cross(phase_dir, read_dir)
        centres = [np.array(s["position"]) for s in raw.slice_geometry]
        spacing = float(np.linalg.norm(centres[1] - centres[0])) if len(centres) > 1 else thickness
    if abs(dx_read - dy_phase) > 1e-3 * max(dx_read, dy_phase):
        raise RawDataError(f"non-square pixels ({dx_read:.4g} x {dy_phase:.4g} mm) are not supported")
    meta = SeriesMeta(
        patient_id="RAW", patient_name="RAW^DATA", study_instance_uid=generate_uid(), frame_of_reference_uid=generate_uid(),
        series_number=1, series_description=sequence, window_center=0, window_width=1, tr_ms=protocol.tr_ms,
        te_ms=protocol.te_ms, echo_train_length=protocol.echo_train_length, fat_suppression=protocol.fat_suppression,
        bandwidth_hz_total=protocol.bandwidth_hz_total, matrix_frequency=raw.encoded_matrix[0], matrix_phase=raw.encoded_matrix[1],
    )
    datasets = []
    for k, centre in enumerate(centres):
        geo = acq.Geometry(
            plane=protocol.plane, rows=rows, cols=cols, pixel_spacing_mm=dx_read, slices=1, slice_thickness_mm=thickness,
            slice_spacing_mm=spacing, center_mm=tuple(float(x) for x in centre),
            row_direction=tuple(float(x) for x in phase_dir), column_direction=tuple(float(x) for x in read_dir), phase_axis=-1,
        )
        ds = build_instance(np.zeros((rows, cols), np.uint16), geo, 0, meta, "1.2.3", generate_uid(), bits_stored=12)
        ds.InstanceNumber = k + 1
        datasets.append(ds)
    return datasets, {"geometry_from": geometry_from, "slice_normal": [float(x) for x in normal]}


def recon_raw(source: Path | str, *, sequence: str | None, protocol_set_name: str = DEFAULT_PROTOCOL_SET,
              noise_sd: float | None = None, fast_dl: bool = True, seed: int = 0, progress=None) -> RawRecon:
    """Raw file -> Standard, Fast (and Fast-DL) volumes with DICOM headers from its header."""
    report = progress or (lambda p, m: None)
    report(5, "reading the raw data")
    raw = read_raw(source)
    protocol = _pick_protocol(raw, sequence, protocol_set_name)
    report(20, "reconstructing Standard and Fast")
    standard, fast, info = standard_and_fast(raw, protocol, noise_sd=noise_sd, seed=seed)
    # One scale for every arm: the Standard's 99.8th percentile at 4000 (12 bits), as the phantom.
    scale = rec.twelve_bit_scale(standard)
    arms = {"Standard": standard * scale, "Fast": fast * scale}
    if fast_dl:
        report(60, "Fast-DL")
        from .realdata import fast_dl_arms

        fast_sd = info.get("noise_sd")
        if fast_sd is not None and info.get("added_noise_sd") is not None:
            # RSS noise inside the body is the per-channel SD; the Fast has the added part too.
            fast_sd = math.hypot(fast_sd, info["added_noise_sd"]) * scale
        else:
            fast_sd = None
        arms.update(fast_dl_arms(arms["Fast"], sigma=fast_sd))
    datasets, geo_info = _datasets(raw, protocol, standard.shape, sequence=protocol.name)
    window = float(np.percentile(arms["Standard"], 99.5))
    for ds in datasets:
        ds.WindowCenter, ds.WindowWidth = f"{window / 2:.1f}", f"{max(window, 1.0):.1f}"
    info.update(geo_info, layout=raw.layout, protocol_set=protocol.protocol_set, sequence=protocol.name,
                encoded_matrix=list(raw.encoded_matrix), recon_matrix=list(raw.recon_matrix), coils=int(raw.kspace.shape[2]),
                grid=list(grid_sizes(raw)[0]), intensity_scale=scale, notes=raw.notes)
    if "noise_sd" not in info:
        info["noise_sd"] = coil_noise_sd_or_none(raw)
        info["noise_method"] = ("air of the coil images (Rayleigh per coil)" if info["noise_sd"] is not None
                                else "not measurable (no air in the coil images)")
    if info.get("noise_sd") is not None:
        info["noise_sd_units"] = "raw k-space units (per receive channel); multiply by intensity_scale for stored pixel units"
    import hashlib

    case = "case-" + hashlib.sha256(Path(source).name.encode()).hexdigest()[:8]
    return RawRecon(case=case, sequence=protocol.name, arms=arms, datasets=datasets, info=info)


def coil_noise_sd_or_none(raw: RawData) -> float | None:
    from .noise import NoiseEstimateError

    try:
        return coil_noise_sd(raw)
    except NoiseEstimateError:
        return None
