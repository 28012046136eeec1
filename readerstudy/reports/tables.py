"""The report's display tables, one function per section (seed-paper shapes), from the analysis tables.

Each function takes the :class:`~.document.Context` of one build and returns a
:class:`~.document.Section`; a section whose data the study lacks has no tables and a ``note``.
"""
from __future__ import annotations

import pandas as pd

from readerstudy.analysis.common import ALL

from . import figures
from .document import Context, Section, Table
from .methods import after
from .formatting import DASH, count_pct, fmt, fmt_p, mean_sd, with_ci

# --- sections -------------------------------------------------------------------------------------

def descriptives(ctx: Context) -> Section:
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    sec = Section("descriptives", "Scores per sequence and arm", after("han2023", "Table 3"), cites=("han2023",))
    items = [it.name for it in cfg.items_of("likert", "binary")]
    d = res["descriptives"]
    d = d[d["item"].isin(items)]
    if d.empty:
        sec.note = "No Likert or binary items were answered: no descriptive table."
        return sec
    arms = order.values(d["arm"], cfg.reference)
    rows = []
    for seq in order.values(d["sequence"]):
        for arm in arms:
            sub = d[(d["sequence"] == seq) & (d["arm"] == arm)].set_index("item")
            if sub.empty:
                continue
            row = {"Sequence": seq, "Arm": arm}
            for item in items:
                row[label(item)] = mean_sd(sub.at[item, "mean"], sub.at[item, "sd"]) if item in sub.index else DASH
            rows.append(row)
    unit = "readers' mean score per case" if cfg.unit == "case-mean" else "scores"
    n_cases = int(d["n"].max())
    sec.tables.append(Table("descriptives", "Mean ± SD of the scores", pd.DataFrame(rows),
                            [f"Mean ± SD over {n_cases} cases of the {unit}, per sequence and arm."],
                            ["descriptives", "descriptives_by_reader"]))
    likert = [it.name for it in cfg.items_of("likert")]
    if likert:
        sec.figures.append(figures.boxplots(ctx.single, likert, ctx))
    return sec


def noninferiority(ctx: Context) -> Section:
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    sec = Section("noninferiority", "Noninferiority of each arm against the reference", after("han2023", "Table 4"), cites=("han2023",))
    t = res["noninferiority"]
    if t.empty:
        sec.note = ("No item has a noninferiority margin, or no arm other than the reference was read: "
                    "no noninferiority table.")
        return sec
    items = [name for name in cfg.items if name in set(t["item"])]
    per_reader = cfg.unit == "reader"
    cols = [("", "Sequence"), ("", "Comparison")] + ([("", "Reader")] if per_reader else [])
    for item in items:
        cols += [(label(item), "Pseudomedian"), (label(item), "p"), (label(item), "p adj.")]
    rows = []
    keys = ["sequence", "arm"] + (["reader"] if per_reader else [])
    t = t.assign(_arm_order=t["arm"].map({a: i for i, a in enumerate(order.values(t["arm"]))}))
    for key, grp in t.sort_values(["sequence", "_arm_order"] + (["reader"] if per_reader else [])).groupby(
            keys, sort=False):
        g = grp.set_index("item")
        row = [key[0], f"{key[1]} vs {cfg.reference}"] + ([key[2]] if per_reader else [])
        for item in items:
            if item not in g.index:
                row += [DASH, DASH, DASH]
                continue
            r = g.loc[item]
            mark = "*" if bool(r["noninferior"]) else ""
            row += [fmt(r["pseudomedian"]), fmt_p(r["p_value"]), fmt_p(r["p_adjusted"]) + mark]
        rows.append(row)
    frame = pd.DataFrame(rows, columns=pd.MultiIndex.from_tuples(cols))
    conf = int(round(100 * cfg.confidence))
    margins = "; ".join(f"{label(it.name)}: {it.margin:g} ({direction_words(it.direction)})"
                        for it in cfg.items.values() if it.noninferiority and it.name in items)
    adj = {"bh": "Benjamini–Hochberg false discovery rate", "bonferroni": "Bonferroni",
           "none": "no"}[cfg.fdr]
    notes = [
        "Pseudomedian: Hodges–Lehmann estimate of arm − reference "
        f"({'readers’ mean per case' if cfg.unit == 'case-mean' else 'per reader and case'}).",
        f"p: one-sided Wilcoxon signed-rank test against the margin; margins {margins}.",
        f"p adj.: {adj} adjustment over all {len(t)} rows. * noninferior (p adj. < {cfg.alpha:g}).",
        f"The forest plot shows each pseudomedian with its one-sided {conf}% confidence bound.",
    ]
    sec.tables.append(Table("noninferiority", "Noninferiority tests", frame, notes, ["noninferiority"]))
    sec.figures.append(figures.forest(t, ctx))
    return sec


def direction_words(direction: str | None) -> str:
    return "arm − reference must exceed it" if direction == "greater" else "arm − reference must stay below it"


def conger(ctx: Context) -> Section:
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    sec = Section("conger", "Interobserver agreement: Conger's κ", after("han2023", "Table 5"), cites=("han2023",))
    k = res["kappa"]
    k = k[(k["scope"] == "interreader") & (k["method"] == "conger")]
    items = [it.name for it in cfg.items_of("likert", "binary")]
    k = k[k["item"].isin(items)]
    if k.empty:
        sec.note = "Conger's κ needs at least two readers on Likert or binary items: not available."
        return sec
    items = [i for i in items if i in set(k["item"])]
    rows = []
    for seq in order.values(k["sequence"]):
        for arm in order.values(k["arm"], cfg.reference):
            sub = k[(k["sequence"] == seq) & (k["arm"] == arm)].set_index("item")
            if sub.empty:
                continue
            rows.append({"Sequence": seq, "Arm": arm,
                         **{label(i): fmt(sub.at[i, "kappa"]) if i in sub.index else DASH for i in items}})
    raters = int(k["raters"].max())
    sec.tables.append(Table("conger", "Conger's κ over readers", pd.DataFrame(rows), [
        f"Conger's κ over {raters} readers, {cfg.conger_weights} weights for Likert items, unweighted for binary "
        "items. κ < 0 no, 0–0.2 slight, 0.2–0.4 fair, 0.4–0.6 moderate, 0.6–0.8 substantial, 0.8–1 almost "
        "perfect agreement."], ["kappa"]))
    sec.figures.append(figures.kappa_heatmap(k, items, ctx))
    return sec


def per_reader(ctx: Context) -> Section:
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    sec = Section("per_reader", "Per-reader comparison with the reference", after("tang2024", "Table 2"), cites=("tang2024",))
    items = [it.name for it in cfg.items_of("likert", "binary")]
    p = res["paired"]
    p = p[p["item"].isin(items)]
    if p.empty:
        sec.note = "No Likert or binary item has paired reads of an arm and the reference: no per-reader table."
        return sec
    k = res["kappa"]
    k = k[(k["scope"] == "interreader") & (k["method"] == "conger")]
    rows = []
    for (seq, item, arm), grp in p.groupby(["sequence", "item", "arm"], sort=True):
        kap = k[(k["sequence"] == seq) & (k["item"] == item) & (k["arm"] == arm)]
        kap_s = with_ci(*kap.iloc[0][["kappa", "ci_low", "ci_high"]]) if len(kap) else DASH
        for i, (_, r) in enumerate(grp.sort_values("reader").iterrows()):
            rows.append({"Sequence": seq, "Item": label(item), "Comparison": f"{arm} vs {cfg.reference}",
                         "Reader": r["reader"], cfg.reference: mean_sd(r["mean_reference"], r["sd_reference"]),
                         "Arm": mean_sd(r["mean_arm"], r["sd_arm"]), "Test": r["test"] or DASH,
                         "p": fmt_p(r["p_value"]), "p adj.": fmt_p(r["p_adjusted"]),
                         "Inter-reader κ (arm)": kap_s if i == 0 else ""})
    adjust = "Bonferroni over the readers" if cfg.paired_adjust == "bonferroni" else "none"
    sec.tables.append(Table("per_reader", "Per-reader scores and paired tests", pd.DataFrame(rows), [
        "Mean ± SD per reader over cases. Test: two-sided paired t test when Shapiro–Wilk does not reject "
        "normality of the differences, else Wilcoxon signed-rank test.",
        f"p adj.: {adjust}. κ: Conger's κ of the arm over readers with 95% CI."], ["paired", "kappa"], appendix=True))
    return sec


def agreement(ctx: Context) -> Section:
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    sec = Section("agreement", "Intraprotocol inter-reader and interprotocol intra-reader agreement",
                  after("tang2024", "Table 4"), cites=("tang2024",))
    k = res["kappa"]
    cats = [it.name for it in cfg.items_of("finding", "likert", "binary")]
    k = k[k["item"].isin(cats)]
    if k.empty:
        sec.note = "No categorical item was read by two readers or in two arms: no agreement table."
        return sec

    def weight_of(item: str) -> str:
        return cfg.conger_weights if cfg.items[item].kind == "likert" else "none"

    inter = k[(k["scope"] == "interreader") & (k["method"] == "conger")]
    intra = k[(k["scope"] == "interprotocol") & (k["method"] == "cohen")]
    arms = order.values(inter["arm"], cfg.reference)
    readers = sorted(set(intra["reader"]))
    other_arms = order.values(intra["arm"])
    rows = []
    for (seq, item), _ in k.groupby(["sequence", "item"], sort=True):
        row = {("", "Sequence"): seq, ("", "Item"): label(item)}
        for arm in arms:
            sub = inter[(inter["sequence"] == seq) & (inter["item"] == item) & (inter["arm"] == arm)]
            row[("Inter-reader (Conger κ)", arm)] = with_ci(*sub.iloc[0][["kappa", "ci_low", "ci_high"]]) \
                if len(sub) else DASH
        for arm in other_arms:
            for reader in readers:
                sub = intra[(intra["sequence"] == seq) & (intra["item"] == item) & (intra["arm"] == arm)
                            & (intra["reader"] == reader) & (intra["weights"] == weight_of(item))]
                row[(f"Interprotocol {arm} vs {cfg.reference} (Cohen κ)", reader)] = \
                    with_ci(*sub.iloc[0][["kappa", "ci_low", "ci_high"]]) if len(sub) else DASH
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.columns = pd.MultiIndex.from_tuples(frame.columns)
    sec.tables.append(Table("agreement", "Agreement (κ with 95% CI)", frame, [
        f"Unit: case × level. Weights: {cfg.conger_weights} for Likert items, none for binary items and findings. "
        "Cohen's κ for each reader's answers in the arm against the same reader's in the reference."], ["kappa"],
        appendix=True))
    return sec


def quantitative(ctx: Context) -> Section:
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    sec = Section("quantitative", "Quantitative measurements per arm against the reference",
                  after("han2023", "Table 6 and Figure 6") + "; " + after("tang2024", "Table 3"),
                  cites=("han2023", "tang2024", "koo2025"))
    numeric = [it.name for it in cfg.items_of("numeric")] + list(cfg.derived)
    dr = res["descriptives_by_reader"]
    dr = dr[dr["item"].isin(numeric)]
    if dr.empty:
        sec.note = "No ROI or numeric measurement was answered: no SNR/CNR table."
        return sec
    ms = res["measurements"]
    if not ms.empty:
        item_order = {name: i for i, name in enumerate(list(cfg.derived) + [it.name for it in cfg.items_of("numeric")])}
        rows = []
        for seq in order.values(ms["sequence"]):
            for item in sorted(set(ms[ms["sequence"] == seq]["item"]), key=item_order.get):
                sub = ms[(ms["sequence"] == seq) & (ms["item"] == item)]
                for arm in order.values(sub["arm"], cfg.reference):
                    r = sub[sub["arm"] == arm].iloc[0]
                    ref = arm == cfg.reference
                    pct = r["percent_difference"]
                    rows.append({
                        "Sequence": seq, "Measure": label(item), "Arm": arm, "n": str(int(r["n"])),
                        "Mean ± SD": mean_sd(r["mean"], r["sd"]),
                        "Difference (%)": "reference" if ref else (DASH if pd.isna(pct) else f"{pct:+.2f}"),
                        "r²": "" if ref else fmt(r["r_squared"]),
                        "Bias (95% limits of agreement)": "" if ref else with_ci(r["bias"], r["loa_low"], r["loa_high"]),
                        "ICC with reference (95% CI)": "" if ref else with_ci(r["icc"], r["icc_ci_low"],
                                                                                r["icc_ci_high"]),
                    })
        sec.tables.append(Table("measurements", "Measurements per arm, difference and agreement with the reference",
                                pd.DataFrame(rows), [
            "Per case (× level): the readers' mean measurement. Mean ± SD over cases; Difference: 100 × (arm − "
            "reference mean) / reference mean; r²: coefficient of determination of the least-squares line arm on "
            "reference (Figure); Bias: mean of arm − reference with 95% Bland–Altman limits of agreement; ICC(A,1) "
            "between the arm and the reference (absolute agreement) with its 95% CI.",
            "SNR = signal / background SD; CNR = |signal − reference signal| / background SD, per reader and case."],
            ["measurements", "bland_altman"]))
        sec.figures.append(figures.measurement_correlation(ctx.units[ctx.units["item"].isin(numeric)], ms, ctx))
    p = res["paired"]
    icc = res["icc"]
    arms = order.values(dr["arm"], cfg.reference)
    others = [a for a in arms if a != cfg.reference]
    item_rank = {name: i for i, name in enumerate(list(cfg.derived) + [it.name for it in cfg.items_of("numeric")])}
    rows = []
    for seq in order.values(dr["sequence"]):
        for item in sorted(set(dr[dr["sequence"] == seq]["item"]), key=item_rank.get):
            sub = dr[(dr["sequence"] == seq) & (dr["item"] == item)]
            for i, reader in enumerate(sorted(set(sub["reader"]))):
                row = {"Sequence": seq, "Measure": label(item), "Reader": reader}
                for arm in arms:
                    r = sub[(sub["reader"] == reader) & (sub["arm"] == arm)]
                    row[arm] = mean_sd(r.iloc[0]["mean"], r.iloc[0]["sd"]) if len(r) else DASH
                for arm in others:
                    r = p[(p["sequence"] == seq) & (p["item"] == item) & (p["arm"] == arm) & (p["reader"] == reader)]
                    row[f"p {arm} vs {cfg.reference}"] = fmt_p(r.iloc[0]["p_adjusted"]) if len(r) else DASH
                for arm in arms:
                    r = icc[(icc["sequence"] == seq) & (icc["item"] == item) & (icc["arm"] == arm)]
                    row[f"ICC {arm}"] = (with_ci(*r.iloc[0][["icc", "ci_low", "ci_high"]]) if len(r) else DASH) \
                        if i == 0 else ""
                rows.append(row)
    adjusted = "Bonferroni-adjusted" if cfg.paired_adjust == "bonferroni" else "unadjusted"
    sec.tables.append(Table("quantitative", "Measurements per reader, paired tests and ICC", pd.DataFrame(rows), [
        "Mean ± SD per reader over cases. SNR = signal / background SD; CNR = |signal − reference signal| / "
        "background SD, per reader and case.",
        f"p: two-sided paired test of each reader ({adjusted}). "
        "ICC(A,1): two-way random, absolute agreement, single rater, with 95% CI, over readers."],
        ["descriptives_by_reader", "paired", "icc"], appendix=True))
    ba = res["bland_altman"]
    ba = ba[ba["reader"] == ALL] if "reader" in ba else ba
    if not ba.empty:
        brow = [{"Sequence": r["sequence"], "Measure": label(r["item"]), "Comparison": f"{r['arm']} vs {cfg.reference}",
                 "n": str(int(r["n"])), "Bias": fmt(r["bias"]), "95% limits of agreement":
                 f"{fmt(r['loa_low'])} to {fmt(r['loa_high'])}", "Pearson r": fmt(r["pearson_r"]),
                 "p (r)": fmt_p(r["pearson_p"])} for _, r in ba.iterrows()]
        sec.tables.append(Table("bland_altman", "Agreement of measurements between arms (Bland–Altman)",
                                pd.DataFrame(brow), ["Bias = mean of arm − reference over cases (readers' mean)."],
                                ["bland_altman"], appendix=True))
        sec.figures.append(figures.bland_altman(ctx.units[ctx.units["item"].isin(numeric)], ctx))
    return sec


def detection(ctx: Context) -> Section:
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    sec = Section("detection", "Detection of findings: reference against each arm (McNemar)", after("tang2024", "Table 5"), cites=("tang2024",))
    m = res["mcnemar"]
    m = m[m["level"] == ALL] if not m.empty else m
    if m.empty:
        sec.note = "No per-level finding (checklist) item was answered in two arms: no detection table."
        return sec
    def rows_of(sub: pd.DataFrame) -> pd.DataFrame:
        rows = []
        for _, r in sub.iterrows():
            total = int(r["both"] + r["reference_only"] + r["arm_only"])
            rows.append({"Finding": label(r["finding"]), "Sequence": r["sequence"], "Reader": r["reader"],
                         "Comparison": f"{r['arm']} vs {r['reference']}", "Reported": str(total),
                         "Both": count_pct(r["both"], total),
                         f"{r['reference']} only": count_pct(r["reference_only"], total),
                         "Arm only": count_pct(r["arm_only"], total), "p (exact)": fmt_p(r["p_exact"])})
        return pd.DataFrame(rows).fillna(DASH)

    note = ("Counts of case × level units reported as abnormal, pooled over levels (percent of those reported in "
            "either arm). p: exact McNemar test, unadjusted; per-level rows are in mcnemar.csv.")
    pooled, by_reader = m[m["reader"] == ALL], m[m["reader"] != ALL]
    if len(pooled):
        arms = order.values(pooled["arm"])
        rows = []
        for seq in order.values(pooled["sequence"]):
            sub = pooled[pooled["sequence"] == seq]
            for finding in dict.fromkeys(sub["finding"]):
                row = {"Sequence": seq, "Finding": label(finding)}
                for arm in arms:
                    r = sub[(sub["finding"] == finding) & (sub["arm"] == arm)]
                    row[f"{arm} vs {cfg.reference}"] = DASH if r.empty else (
                        f"{int(r.iloc[0]['reference_only'])} / {int(r.iloc[0]['arm_only'])}, "
                        f"p {fmt_p(r.iloc[0]['p_exact'])}")
                rows.append(row)
        sec.tables.append(Table("detection", "Findings reported by one arm only, all readers", pd.DataFrame(rows), [
            f"Case × level units reported abnormal with {cfg.reference} only / with the arm only, readers and levels "
            "pooled; p: exact McNemar test, unadjusted. Per-reader counts: appendix; per level: mcnemar.csv."],
            ["mcnemar"]))
    if len(by_reader):
        sec.tables.append(Table("detection_by_reader", "Findings reported per reader", rows_of(by_reader), [note],
                                ["mcnemar"], appendix=True))
    return sec


def accuracy(ctx: Context) -> Section:
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    sec = Section("accuracy", "Sensitivity and specificity against the reference standard (GEE)", after("koo2025", "diagnostic performance"), cites=("koo2025",))
    g = res["accuracy_gee"]
    a = res["accuracy"]
    if a.empty:
        sec.note = ("No reference standard was given: sensitivity and specificity are not reported."
                    if not ctx.has_reference else "No finding item was answered: no accuracy table.")
        return sec
    if not g.empty:
        gg = g[g["reader"] == ALL]
        arms = order.values(gg["arm"])
        wide = []
        for seq in order.values(gg["sequence"]):
            for (finding, measure), grp in gg[gg["sequence"] == seq].groupby(["finding", "measure"], sort=True):
                first = grp.iloc[0]
                row = {"Sequence": seq, "Finding": label(finding), "Measure": measure,
                       cfg.reference: with_ci(first["estimate_reference"], first["ci_low_reference"],
                                              first["ci_high_reference"])}
                for arm in arms:
                    r = grp[grp["arm"] == arm]
                    row[arm] = DASH if r.empty else (
                        f"{with_ci(r.iloc[0]['estimate_arm'], r.iloc[0]['ci_low_arm'], r.iloc[0]['ci_high_arm'])}, "
                        f"p {fmt_p(r.iloc[0]['p_value'])}")
                wide.append(row)
        sec.tables.append(Table("accuracy_arms", "Sensitivity and specificity per arm across readers (GEE)",
                                pd.DataFrame(wide), [
            "Model-based proportion with its 95% CI (logit scale); p: robust Wald test of the arm against "
            f"{cfg.reference}. Generalized estimating equations (binomial, logit link, exchangeable correlation, "
            "clustered by case, robust SE) over all readers."], ["accuracy_gee"]))
        rows = [{"Finding": label(r["finding"]), "Sequence": r["sequence"], "Measure": r["measure"],
                 cfg.reference: fmt(r["estimate_reference"]), "Arm": f"{r['arm']}: {fmt(r['estimate_arm'])}",
                 "Difference (95% CI)": with_ci(r["difference"], r["ci_low"], r["ci_high"], 3),
                 "p (GEE)": fmt_p(r["p_value"])} for _, r in gg.iterrows()]
        sec.tables.append(Table("accuracy_gee", "Arms compared with the reference across readers", pd.DataFrame(rows), [
            "Generalized estimating equations (binomial, logit link, exchangeable correlation, clustered by case, "
            "robust SE) over all readers; estimates are model-based; difference with a delta-method CI."],
            ["accuracy_gee"], appendix=True))
    rows = []
    for (finding, seq, reader, arm), grp in a.groupby(["finding", "sequence", "reader", "arm"], sort=True):
        row = {"Finding": label(finding), "Sequence": seq, "Reader": reader, "Arm": arm}
        for _, r in grp.iterrows():
            row[r["measure"].capitalize()] = (f"{int(r['correct'])}/{int(r['n'])} "
                                              f"{with_ci(r['estimate'], r['ci_low'], r['ci_high'], 3)}")
        rows.append(row)
    sec.tables.append(Table("accuracy", "Sensitivity and specificity per reader", pd.DataFrame(rows).fillna(DASH),
                            ["Correct/total with exact (Clopper–Pearson) 95% CI, pooled over levels."], ["accuracy"],
                            appendix=True))
    return sec


def preference(ctx: Context) -> Section:
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    sec = Section("preference", "Side-by-side preference and inter-reader correlation", after("bash2022", "Tables 2 and 3"), cites=("bash2022",))
    p = res["preference"]
    s = res["spearman"]
    if p.empty:
        sec.title, sec.source, sec.cites = "Inter-reader correlation (Spearman ρ)", "", ()
    if not p.empty:
        pp = p[p["reader"] == ALL]
        rows = [{"Sequence": r["sequence"], "Item": label(r["item"]), "Pair (A vs B)": f"{r['arm_a']} vs {r['arm_b']}",
                 "n": str(int(r["n"])), "Mean ± SD": mean_sd(r["mean"], r["sd"]), "Median": fmt(r["median"], 1),
                 "p": fmt_p(r["p_value"]), "Favours": r["favours"]} for _, r in pp.iterrows()]
        sec.tables.append(Table("preference", "Preference scores", pd.DataFrame(rows), [
            "Scores from arm A's point of view after undoing the left/right randomization (low: A better, scale "
            "midpoint: no difference). p: two-sided Wilcoxon signed-rank test against the midpoint."], ["preference"]))
    if not s.empty:
        s = s.assign(pair=s["reader_a"] + " vs " + s["reader_b"])
        pairs = sorted(set(s["pair"]))
        rows, pooled = [], []
        for (seq, item, arm), grp in s.groupby(["sequence", "item", "arm"], sort=True):
            g = grp.set_index("pair")
            whole = seq == ALL and item == ALL and arm == ALL
            (pooled if whole else rows).append({
                "Sequence": seq, "Item": "all (pooled)" if whole else label(item), "Arm": arm,
                **{pr: fmt(g.at[pr, "rho"]) if pr in g.index else DASH for pr in pairs}})
        sec.tables.append(Table("spearman", "Inter-reader Spearman ρ", pd.DataFrame(rows + pooled), [
            "Spearman rank correlation between readers' scores over cases"
            + ("; last row: pooled over all sequences, items and arms as Bash et al., Clin Neuroradiol 2022, Table 3)." if pooled else ".")],
            ["spearman"], appendix=True))
    if not sec.tables:
        sec.note = "No preference item and no two readers on an ordinal item: no preference table."
    return sec


def integrity(ctx: Context) -> Section:
    integrity = ctx.integrity
    sec = Section("integrity", "Image integrity against the reference reconstruction (SSIM, L1)", after("bash2022", "Table 4"), cites=("bash2022",))
    if integrity is None or integrity.empty:
        sec.note = "No image-integrity figures (SSIM, L1) were supplied for this study."
        return sec
    by = [c for c in ("sequence",) if c in integrity] + ["reference", "test"]
    rows = []
    for key, grp in integrity.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip([c.capitalize() for c in by[:-2]], key[:-2]))
        row["Comparison"] = f"{key[-2]} vs {key[-1]}"
        row["n"] = str(len(grp))
        for col, name, d in (("ssim", "SSIM", 3), ("l1", "L1", 2), ("psnr", "PSNR (dB)", 2)):
            if col in grp:
                row[name] = mean_sd(grp[col].mean(), grp[col].std(ddof=1), d)
        rows.append(row)
    sec.tables.append(Table("integrity", "Structural similarity and per-pixel L1 difference", pd.DataFrame(rows),
                            ["Mean ± SD over volumes; SSIM and PSNR at the reference volume's data range."],
                            ["integrity"]))
    return sec


def mrmc(ctx: Context) -> Section:
    res, cfg, label, order = ctx.result, ctx.cfg, ctx.label, ctx.order
    sec = Section("mrmc", "Multi-reader multi-case analysis (Obuchowski–Rockette, Hillis df)", "")
    m = res["mrmc"]
    if m.empty:
        sec.note = "No multi-reader multi-case analysis was configured for this study."
        return sec
    rows = []
    for _, r in m.iterrows():
        glob = r["arm"] == ALL
        rows.append({
            "Analysis": r["analysis"], "Sequence": r["sequence"], "Level": r["level"],
            "Comparison": f"all arms (F test)" if glob else f"{r['arm']} vs {r['reference']}",
            "Readers × cases": f"{int(r['readers'])} × {int(r['cases'])}",
            f"FOM {cfg.reference}": fmt(r["fom_reference"]), "FOM arm": DASH if glob else fmt(r["fom_arm"]),
            "Difference (95% CI)": DASH if glob else with_ci(r["difference"], r["ci_low"], r["ci_high"], 3),
            "df": fmt(r["df"], 1), "p": fmt_p(r["p_value"]),
            "Margin": DASH if glob else f"{r['margin']:g}",
            "p (noninf.)": DASH if glob else fmt_p(r["p_noninferiority"]) + ("*" if bool(r["noninferior"]) else ""),
        })
    sec.tables.append(Table("mrmc", "Figures of merit with random readers and random cases", pd.DataFrame(rows), [
        "FOM: figure of merit (AUC from confidence ratings, mean score, sensitivity or specificity). p: two-sided "
        "test of equal FOM; p (noninf.): one-sided test of the difference against the margin, * noninferior."],
        ["mrmc", "mrmc_readers"]))
    return sec

