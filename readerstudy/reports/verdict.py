"""The verdict page: what a committee reads first, derived only from the analysis tables.

Per sequence × arm against the reference: the noninferiority result of every item as a coloured
matrix (non-inferior / inconclusive / inferior, with the Hodges–Lehmann pseudomedian and the
adjusted p), one sentence per comparison, then one line each for detection (McNemar), accuracy
(GEE), agreement (κ, ICC), MRMC and preference where the design has them, and the analysis
population (readers, cases, reads, who was left out and why).

Statuses come from the adjusted p values (``p_adjusted`` for noninferiority, ``p_inferior_adjusted``
for the opposite test) compared with α, so a changed p changes the verdict.
"""
from __future__ import annotations

import pandas as pd

from readerstudy.analysis.common import ALL

from .document import Context, Section, Table
from .formatting import fmt, fmt_p, p_text, with_ci

NONINFERIOR, INCONCLUSIVE, INFERIOR = "non-inferior", "inconclusive", "inferior"
#: CSS class / PDF colour key of each status.
STATUS_CLASS = {NONINFERIOR: "v-ni", INCONCLUSIVE: "v-inc", INFERIOR: "v-inf"}


def status_of(rows: pd.DataFrame, alpha: float) -> str:
    """Status of one sequence × arm × item from its noninferiority row(s) (several with unit = reader:
    non-inferior when every reader's row is, inferior when any is)."""
    ni = (rows["p_adjusted"].astype(float) < alpha).to_numpy()
    inf = (rows["p_inferior_adjusted"].astype(float) < alpha).to_numpy() if "p_inferior_adjusted" in rows else []
    if len(ni) and ni.all():
        return NONINFERIOR
    if len(inf) and inf.any():
        return INFERIOR
    return INCONCLUSIVE


def _names(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _kappa_words(k: float) -> str:
    if k < 0:
        return "no agreement"
    for upper, word in ((0.2, "slight"), (0.4, "fair"), (0.6, "moderate"), (0.8, "substantial")):
        if k <= upper:
            return word
    return "almost perfect"


def noninferiority_matrix(ctx: Context) -> tuple[Table | None, list[str]]:
    """The coloured matrix and one sentence per sequence × arm."""
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    t = res["noninferiority"]
    if t.empty:
        return None, []
    items = [name for name in cfg.items if name in set(t["item"])]
    per_reader = cfg.unit == "reader"
    rows, classes, sentences = [], [], []
    for seq in order.values(t["sequence"]):
        for arm in order.values(t[t["sequence"] == seq]["arm"]):
            sub = t[(t["sequence"] == seq) & (t["arm"] == arm)]
            row = {"Sequence": seq, "Comparison": f"{arm} vs {cfg.reference}"}
            cls = ["", ""]
            by_status: dict[str, list[str]] = {NONINFERIOR: [], INCONCLUSIVE: [], INFERIOR: []}
            for item in items:
                cell = sub[sub["item"] == item]
                if cell.empty:
                    row[label(item)] = "—"
                    cls.append("")
                    continue
                status = status_of(cell, cfg.alpha)
                by_status[status].append(label(item))
                if per_reader:
                    k = int((cell["p_adjusted"].astype(float) < cfg.alpha).sum())
                    detail = f"{k}/{len(cell)} readers"
                else:
                    r = cell.iloc[0]
                    detail = f"Δ {fmt(r['pseudomedian'], 2)}, p adj. {fmt_p(r['p_adjusted'])}"
                row[label(item)] = f"{status} ({detail})"
                cls.append(STATUS_CLASS[status])
            rows.append(row)
            classes.append(cls)
            n = sum(len(v) for v in by_status.values())
            k = len(by_status[NONINFERIOR])
            unit = "item" if n == 1 else "items"
            if k == n:
                text = f"{arm} is non-inferior to {cfg.reference} for {seq} in {k}/{n} {unit}."
            else:
                head = (f"{arm} is non-inferior to {cfg.reference} for {seq} in {k}/{n} {unit} "
                        f"({_names(by_status[NONINFERIOR])})" if k else
                        f"{arm} is not shown non-inferior to {cfg.reference} for {seq} (0/{n} {unit})")
                tail = [f"{word} for {_names(by_status[word])}" for word in (INCONCLUSIVE, INFERIOR)
                        if by_status[word]]
                text = head + "; " + "; ".join(tail) + "."
            sentences.append(text)
    frame = pd.DataFrame(rows)
    adj = {"bh": "Benjamini–Hochberg", "bonferroni": "Bonferroni", "none": "no"}[cfg.fdr]
    margins = "; ".join(f"{label(it.name)} {it.margin:g}" for it in cfg.items.values()
                        if it.noninferiority and it.name in items)
    notes = [
        f"Non-inferior: one-sided Wilcoxon test against the margin rejects after {adj} adjustment "
        f"(p adj. < {cfg.alpha:g}); inferior: the opposite one-sided test rejects (the arm is worse than the "
        f"margin allows); otherwise inconclusive. Δ: Hodges–Lehmann pseudomedian of arm − reference. "
        f"Margins: {margins}."]
    return Table("verdict", "Noninferiority against the reference, per item", frame, notes, ["noninferiority"],
                 cell_classes=classes), sentences


def detection_lines(ctx: Context) -> list[str]:
    """One line per sequence: the findings whose detection differed (exact McNemar, pooled), per arm."""
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    m = res["mcnemar"]
    if m.empty:
        return []
    m = m[(m["reader"] == ALL) & (m["level"] == ALL)]
    out = []
    for seq in order.values(m["sequence"]):
        parts = []
        for arm in order.values(m[m["sequence"] == seq]["arm"]):
            sub = m[(m["sequence"] == seq) & (m["arm"] == arm)]
            diff = [f"{label(r['finding'])} ({int(r['reference_only'])} {cfg.reference} only vs {int(r['arm_only'])} "
                    f"{arm} only, {p_text(r['p_exact'])})" for _, r in sub.iterrows() if r["p_exact"] < cfg.alpha]
            parts.append(f"{arm}: " + ("; ".join(diff) if diff else f"no difference in {len(sub)} finding(s)"))
        out.append(f"Detection against {cfg.reference}, {seq} (exact McNemar, readers and levels pooled, "
                   f"unadjusted): " + " — ".join(parts) + ".")
    return out


def accuracy_lines(ctx: Context) -> list[str]:
    """One line per sequence: the arms whose sensitivity or specificity differed from the reference (GEE)."""
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    g = res["accuracy_gee"]
    if g.empty:
        return []
    g = g[g["reader"] == ALL]
    out = []
    for seq in order.values(g["sequence"]):
        sub = g[g["sequence"] == seq]
        diff = sub[sub["p_value"].astype(float) < cfg.alpha]
        parts = [f"{r['arm']} {r['measure']} for {label(r['finding'])} {fmt(r['estimate_arm'], 2)} vs "
                 f"{fmt(r['estimate_reference'], 2)} ({p_text(r['p_value'])})" for _, r in diff.iterrows()]
        n = sub["finding"].nunique()
        rest = (f"no other arm differed" if parts else f"no arm differed from {cfg.reference}")
        out.append(f"Accuracy against the reference standard, {seq} (GEE across readers, unadjusted): "
                   + "; ".join(parts + [f"{rest} in sensitivity or specificity ({n} finding(s))"]) + ".")
    return out


def agreement_lines(ctx: Context) -> list[str]:
    res, cfg, order = ctx.result, ctx.cfg, ctx.order
    out = []
    k = res["kappa"]
    k = k[(k["scope"] == "interreader") & (k["method"] == "conger")].dropna(subset=["kappa"])
    if not k.empty:
        parts = []
        for arm in order.values(k["arm"], cfg.reference):
            v = k[k["arm"] == arm]["kappa"].astype(float)
            parts.append(f"{arm} median {v.median():.2f} ({_kappa_words(round(v.median(), 2))}; range {v.min():.2f} to "
                         f"{v.max():.2f})")
        out.append(f"Inter-reader agreement (Conger's κ over {int(k['raters'].max())} readers, per sequence and "
                   f"item): " + "; ".join(parts) + ".")
    icc = res["icc"].dropna(subset=["icc"])
    if not icc.empty:
        parts = []
        for arm in order.values(icc["arm"], cfg.reference):
            v = icc[icc["arm"] == arm]["icc"].astype(float)
            parts.append(f"{arm} median {v.median():.2f} (range {v.min():.2f} to {v.max():.2f})")
        out.append("Inter-reader reliability of measurements (ICC(A,1)): " + "; ".join(parts) + ".")
    return out


def mrmc_lines(ctx: Context) -> list[str]:
    """One line per MRMC analysis × sequence: each arm's difference, CI and noninferiority."""
    res, label = ctx.result, ctx.label
    m = res["mrmc"]
    if m.empty:
        return []
    m = m[m["arm"] != ALL]
    out = []
    foms = {"auc": "AUC", "mean": "mean score", "sensitivity": "sensitivity", "specificity": "specificity"}
    for (_, seq), grp in m.groupby(["analysis", "sequence"], sort=False):
        first = grp.iloc[0]
        name = f"{label(first['item'])} ({foms.get(first['fom'], first['fom'])})"
        parts = []
        for _, r in grp.iterrows():
            word = NONINFERIOR if bool(r["noninferior"]) else "not shown non-inferior"
            parts.append(f"{r['arm']} − {r['reference']} {with_ci(r['difference'], r['ci_low'], r['ci_high'], 3)}, "
                         f"{word} ({p_text(r['p_noninferiority'])})")
        out.append(f"MRMC {name}, {seq} (Obuchowski–Rockette, margin {first['margin']:g}): "
                   + "; ".join(parts) + ".")
    return out


def preference_lines(ctx: Context) -> list[str]:
    """One line per sequence × item of the side-by-side comparisons."""
    res, label = ctx.result, ctx.label
    p = res["preference"]
    if p.empty:
        return []
    p = p[p["reader"] == ALL]
    out = []
    for (seq, item), grp in p.groupby(["sequence", "item"], sort=True):
        parts = []
        for _, r in grp.iterrows():
            fav = r["favours"]
            text = f"favours {fav}" if fav and fav != "none" else "no preference shown"
            parts.append(f"{r['arm_a']} vs {r['arm_b']} {text} (mean {fmt(r['mean'], 2)}, {p_text(r['p_value'])})")
        out.append(f"Side-by-side preference, {label(item)}, {seq}: " + "; ".join(parts) + ".")
    return out


def population_lines(ctx: Context) -> list[str]:
    res, cfg = ctx.result, ctx.cfg
    meta = res.meta
    pop = res["population"]
    included = pop[pop["included"].astype(bool)]
    excluded = pop[~pop["included"].astype(bool)]
    incomplete_kept = included[~included["complete"].astype(bool)]
    mode = ("every reader with an answer" if cfg.population_readers == "all"
            else "readers who answered every read")
    study_reads = int(pop["study_reads"].max()) if len(pop) else 0
    lines = [
        f"Analysis population ({mode}): {len(included)} readers ({', '.join(included['reader'])}), "
        f"{meta['cases']} cases, {len(meta['sequences'])} sequence(s), {len(meta['arms'])} arms; "
        f"{int(included['reads'].sum())} reads answered of {study_reads * len(included)} "
        f"({study_reads} per reader: case × sequence × arm), {int(included['answers'].sum())} answers. "
        "Training reads and training cases never enter the analysis."]
    if len(excluded):
        lines.append("Excluded: " + "; ".join(f"{r.reader} ({r.reason})" for r in excluded.itertuples()) + ".")
    schedule = ctx.meta.get("reads") or {}
    if schedule:
        in_answers = set(pop["reader"])
        parts = []
        for reader, counts in sorted(schedule.items()):
            text = f"{reader} {counts['submitted']}/{counts['scheduled']}"
            if reader not in in_answers:
                text += " (no answer yet: not in the analysis)"
            parts.append(text)
        total = sum(c["submitted"] for c in schedule.values()), sum(c["scheduled"] for c in schedule.values())
        lines.append(f"Reads submitted of those scheduled (training excluded): {total[0]}/{total[1]}; per reader: "
                     + ", ".join(parts) + ".")
    if len(incomplete_kept):
        lines.append("Incomplete readers kept in the analysis: "
                     + "; ".join(f"{r.reader} ({int(r.reads)} of {int(r.study_reads)} reads)"
                                 for r in incomplete_kept.itertuples()) + ".")
    return lines


def verdict_section(ctx: Context) -> Section:
    """The first section of the report: the answer in sentences and one matrix."""
    sec = Section("verdict", "Verdict", "")
    matrix, sentences = noninferiority_matrix(ctx)
    sec.paragraphs = sentences
    sec.lines = detection_lines(ctx) + accuracy_lines(ctx) + mrmc_lines(ctx) + preference_lines(ctx) \
        + agreement_lines(ctx)
    sec.population = population_lines(ctx)
    if matrix is not None:
        sec.tables.append(matrix)
    if not (sec.paragraphs or sec.lines):
        sec.note = "No noninferiority, detection, accuracy, agreement or preference result to summarise."
    return sec
