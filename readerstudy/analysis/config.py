"""Analysis configuration: a TOML file, validated into :class:`AnalysisConfig`.

Every key is documented in ``docs/analysis.md``. Unknown keys are errors, so that a typo never
silently turns an analysis off.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KINDS = ("likert", "binary", "finding", "numeric", "preference", "rating")
UNITS = ("case-mean", "reader")
FDR_METHODS = ("bh", "bonferroni", "none")
DIRECTIONS = ("greater", "less")
KAPPA_WEIGHTS = ("none", "linear", "quadratic")
FOMS = ("auc", "mean", "sensitivity", "specificity")

#: Default noninferiority margin and direction per kind (seed 000: Likert −0.5, artifact presence +0.2).
DEFAULT_MARGIN = {"likert": (-0.5, "greater"), "binary": (0.2, "less")}

_TOP_KEYS = {"reference", "unit", "fdr", "alpha", "confidence", "items", "derived", "agreement",
             "preference", "mrmc", "paired", "population"}
_ITEM_KEYS = {"kind", "scale", "margin", "direction", "label", "finding", "noninferiority"}
_DERIVED_KEYS = {"kind", "signal", "signal_reference", "noise", "label"}
_AGREEMENT_KEYS = {"weights", "conger_weights"}
_PREFERENCE_KEYS = {"unit"}
_PAIRED_KEYS = {"adjust"}
_POPULATION_KEYS = {"readers"}
POPULATION_READERS = ("all", "complete")
_MRMC_KEYS = {"item", "fom", "margin", "name", "level"}


@dataclass(frozen=True)
class ItemConfig:
    """How one item (a value of the answers' ``item`` column) is analysed."""

    name: str
    kind: str
    scale: tuple[float, float] | None = None
    margin: float | None = None
    direction: str | None = None
    label: str = ""
    finding: str | None = None
    noninferiority: bool = True

    @property
    def categories(self) -> list[float]:
        """The full category set of an ordinal scale (weights of kappa use all of it)."""
        if self.kind in ("binary", "finding"):
            return [0.0, 1.0]
        if self.scale is None:
            raise ValueError(f"item {self.name!r} has no scale")
        lo, hi = self.scale
        return [float(v) for v in range(int(lo), int(hi) + 1)]


@dataclass(frozen=True)
class DerivedConfig:
    """A quantity computed from ROI answers: SNR = signal/noise, CNR = |signal − signal_reference|/noise."""

    name: str
    kind: str
    signal: str
    noise: str
    signal_reference: str | None = None
    label: str = ""


@dataclass(frozen=True)
class MrmcConfig:
    """One multi-reader multi-case analysis (Obuchowski–Rockette, Hillis df)."""

    item: str
    fom: str
    margin: float = 0.0
    name: str = ""
    level: str | None = None


@dataclass(frozen=True)
class AnalysisConfig:
    """The validated analysis configuration. Build it with :func:`parse_config` or :func:`load_config`."""

    reference: str
    items: dict[str, ItemConfig]
    unit: str = "case-mean"
    fdr: str = "bh"
    alpha: float = 0.05
    confidence: float = 0.95
    derived: dict[str, DerivedConfig] = field(default_factory=dict)
    kappa_weights: tuple[str, ...] = ("none", "linear", "quadratic")
    conger_weights: str = "quadratic"
    preference_unit: str = "answers"
    paired_adjust: str = "bonferroni"
    mrmc: tuple[MrmcConfig, ...] = ()
    population_readers: str = "all"

    def items_of(self, *kinds: str) -> list[ItemConfig]:
        return [it for it in self.items.values() if it.kind in kinds]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-serialisable echo of the configuration (written into ``results.json``)."""
        return {
            "reference": self.reference, "unit": self.unit, "fdr": self.fdr, "alpha": self.alpha,
            "confidence": self.confidence,
            "items": {k: {"kind": v.kind, "scale": list(v.scale) if v.scale else None,
                          "margin": v.margin, "direction": v.direction, "label": v.label,
                          "finding": v.finding, "noninferiority": v.noninferiority}
                      for k, v in self.items.items()},
            "derived": {k: {"kind": v.kind, "signal": v.signal, "noise": v.noise,
                            "signal_reference": v.signal_reference, "label": v.label}
                        for k, v in self.derived.items()},
            "agreement": {"weights": list(self.kappa_weights), "conger_weights": self.conger_weights},
            "preference": {"unit": self.preference_unit},
            "paired": {"adjust": self.paired_adjust},
            "population": {"readers": self.population_readers},
            "mrmc": [{"item": m.item, "fom": m.fom, "margin": m.margin, "name": m.name,
                      "level": m.level} for m in self.mrmc],
        }


def _unknown(where: str, given: dict, allowed: set[str]) -> None:
    extra = sorted(set(given) - allowed)
    if extra:
        raise ValueError(f"config {where}: unknown key(s) {', '.join(map(repr, extra))}; "
                         f"allowed: {', '.join(sorted(allowed))}")


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"config {where}: expected a finite number, got {value!r}")
    return float(value)


def _choice(where: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"config {where}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _item(name: str, raw: Any) -> ItemConfig:
    where = f"[items.{name}]"
    if not isinstance(raw, dict):
        raise ValueError(f"config {where}: expected a table")
    _unknown(where, raw, _ITEM_KEYS)
    if "kind" not in raw:
        raise ValueError(f"config {where}: missing key 'kind' (one of {', '.join(KINDS)})")
    kind = _choice(f"{where} kind", raw["kind"], KINDS)
    scale = None
    if kind in ("likert", "preference", "rating"):
        if "scale" not in raw:
            raise ValueError(f"config {where}: kind {kind!r} needs scale = [low, high]")
    if "scale" in raw:
        s = raw["scale"]
        if (not isinstance(s, list) or len(s) != 2
                or any(isinstance(v, bool) or not isinstance(v, int) for v in s) or s[0] >= s[1]):
            raise ValueError(f"config {where} scale: expected two integers [low, high] with low < high, got {s!r}")
        scale = (float(s[0]), float(s[1]))
    margin, direction = DEFAULT_MARGIN.get(kind, (None, None))
    if "margin" in raw:
        margin = _number(f"{where} margin", raw["margin"])
    if "direction" in raw:
        direction = _choice(f"{where} direction", raw["direction"], DIRECTIONS)
    if (margin is None) != (direction is None):
        raise ValueError(f"config {where}: margin and direction go together")
    finding = raw.get("finding")
    if kind == "rating" and not isinstance(finding, str):
        raise ValueError(f"config {where}: kind 'rating' needs finding = \"<finding of the reference standard>\"")
    if finding is not None and kind != "rating":
        raise ValueError(f"config {where}: key 'finding' applies to kind 'rating' only "
                         "(a 'finding' item's own name is its finding)")
    noninf = raw.get("noninferiority", kind in ("likert", "binary"))
    if not isinstance(noninf, bool):
        raise ValueError(f"config {where} noninferiority: expected true or false")
    if noninf and margin is None:
        raise ValueError(f"config {where}: noninferiority needs margin and direction")
    label = raw.get("label", "")
    if not isinstance(label, str):
        raise ValueError(f"config {where} label: expected a string")
    return ItemConfig(name=name, kind=kind, scale=scale, margin=margin, direction=direction,
                      label=label, finding=finding, noninferiority=noninf)


def _derived(name: str, raw: Any, items: dict[str, ItemConfig]) -> DerivedConfig:
    where = f"[derived.{name}]"
    if not isinstance(raw, dict):
        raise ValueError(f"config {where}: expected a table")
    _unknown(where, raw, _DERIVED_KEYS)
    kind = _choice(f"{where} kind", raw.get("kind"), ("snr", "cnr"))
    needed = ["signal", "noise"] + (["signal_reference"] if kind == "cnr" else [])
    for key in needed:
        ref = raw.get(key)
        if not isinstance(ref, str):
            raise ValueError(f"config {where}: missing key {key!r} (the item id of a numeric ROI answer)")
        if ref not in items or items[ref].kind != "numeric":
            raise ValueError(f"config {where} {key}: {ref!r} is not a numeric item of [items]")
    if kind == "snr" and "signal_reference" in raw:
        raise ValueError(f"config {where}: 'signal_reference' applies to kind 'cnr' only")
    if name in items:
        raise ValueError(f"config {where}: name clashes with [items.{name}]")
    return DerivedConfig(name=name, kind=kind, signal=raw["signal"], noise=raw["noise"],
                         signal_reference=raw.get("signal_reference"), label=raw.get("label", ""))


def parse_config(raw: dict[str, Any]) -> AnalysisConfig:
    """Validate a configuration mapping (as read from TOML) into an :class:`AnalysisConfig`.

    Raises
    ------
    ValueError
        Naming the key at fault: unknown keys, missing ``reference``, a bad kind, scale, margin,
        direction, weights, figure of merit, or a reference to an item that is not configured.
    """
    if isinstance(raw, AnalysisConfig):
        return raw
    if not isinstance(raw, dict):
        raise ValueError("config: expected a mapping")
    _unknown("top level", raw, _TOP_KEYS)
    reference = raw.get("reference")
    if not isinstance(reference, str) or not reference:
        raise ValueError("config: missing key 'reference' (the reference arm, e.g. \"Standard\")")
    unit = _choice("unit", raw.get("unit", "case-mean"), UNITS)
    fdr = _choice("fdr", raw.get("fdr", "bh"), FDR_METHODS)
    alpha = _number("alpha", raw.get("alpha", 0.05))
    confidence = _number("confidence", raw.get("confidence", 0.95))
    for key, v in (("alpha", alpha), ("confidence", confidence)):
        if not 0 < v < 1:
            raise ValueError(f"config {key}: must lie strictly between 0 and 1, got {v}")
    raw_items = raw.get("items")
    if not isinstance(raw_items, dict) or not raw_items:
        raise ValueError("config: no [items.<id>] tables; name at least one item of the answers")
    items = {name: _item(name, spec) for name, spec in raw_items.items()}
    raw_derived = raw.get("derived", {})
    if not isinstance(raw_derived, dict):
        raise ValueError("config [derived]: expected tables [derived.<name>]")
    derived = {name: _derived(name, spec, items) for name, spec in raw_derived.items()}

    agreement = raw.get("agreement", {})
    _unknown("[agreement]", agreement, _AGREEMENT_KEYS)
    weights = agreement.get("weights", ["none", "linear", "quadratic"])
    if not isinstance(weights, list) or not weights:
        raise ValueError("config [agreement] weights: expected a non-empty list")
    for w in weights:
        _choice("[agreement] weights", w, KAPPA_WEIGHTS)
    conger = _choice("[agreement] conger_weights", agreement.get("conger_weights", "quadratic"), KAPPA_WEIGHTS)

    pref = raw.get("preference", {})
    _unknown("[preference]", pref, _PREFERENCE_KEYS)
    pref_unit = _choice("[preference] unit", pref.get("unit", "answers"), ("answers", "case-mean"))

    paired = raw.get("paired", {})
    _unknown("[paired]", paired, _PAIRED_KEYS)
    paired_adjust = _choice("[paired] adjust", paired.get("adjust", "bonferroni"), ("bonferroni", "none"))

    population = raw.get("population", {})
    if not isinstance(population, dict):
        raise ValueError("config [population]: expected a table")
    _unknown("[population]", population, _POPULATION_KEYS)
    population_readers = _choice("[population] readers", population.get("readers", "all"), POPULATION_READERS)

    raw_mrmc = raw.get("mrmc", [])
    if not isinstance(raw_mrmc, list):
        raise ValueError("config mrmc: expected an array of tables [[mrmc]]")
    mrmc = []
    for i, spec in enumerate(raw_mrmc):
        where = f"[[mrmc]] #{i + 1}"
        if not isinstance(spec, dict):
            raise ValueError(f"config {where}: expected a table")
        _unknown(where, spec, _MRMC_KEYS)
        item = spec.get("item")
        if item not in items:
            raise ValueError(f"config {where} item: {item!r} is not an item of [items]")
        fom = _choice(f"{where} fom", spec.get("fom"), FOMS)
        kind = items[item].kind
        allowed = {"auc": ("rating",), "mean": ("likert", "binary", "numeric"),
                   "sensitivity": ("finding",), "specificity": ("finding",)}[fom]
        if kind not in allowed:
            raise ValueError(f"config {where}: fom {fom!r} needs an item of kind {' or '.join(allowed)}, "
                             f"but {item!r} is {kind!r}")
        level = spec.get("level")
        if level is not None and not isinstance(level, str):
            raise ValueError(f"config {where} level: expected a string")
        mrmc.append(MrmcConfig(item=item, fom=fom, margin=_number(f"{where} margin", spec.get("margin", 0.0)),
                               name=str(spec.get("name", f"{item}:{fom}")), level=level))
    return AnalysisConfig(reference=reference, items=items, unit=unit, fdr=fdr, alpha=alpha,
                          confidence=confidence, derived=derived, kappa_weights=tuple(weights),
                          conger_weights=conger, preference_unit=pref_unit, paired_adjust=paired_adjust,
                          mrmc=tuple(mrmc), population_readers=population_readers)


def load_config(path: str | Path) -> AnalysisConfig:
    """Read and validate a TOML configuration file."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"config {path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"config {path}: not valid TOML: {exc}") from None
    return parse_config(raw)
