"""The Methods paragraph of the report and its numbered references."""
from __future__ import annotations

from typing import Any

from .document import Context, Section


def after(seed: str, what: str) -> str:
    """The heading note of a table shaped like a published one: "after Han et al., Pain Med 2023, Table 4"."""
    return f"after {SEED_SHORT[seed]}, {what}"

#: The published reader studies whose tables the report's tables are shaped like (shared/seeds).
SEED_SHORT = {
    "han2023": "Han et al., Pain Med 2023",
    "tang2024": "Tang et al., Eur Radiol Exp 2024",
    "koo2025": "Koo et al., AJNR Am J Neuroradiol 2025",
    "bash2022": "Bash et al., Clin Neuroradiol 2022",
}

REFERENCES = {
    "han2023": "Han M, Bahroos E, Hess ME, et al. Technology and tool development for BACPAC: qualitative and "
               "quantitative analysis of accelerated lumbar spine MRI with deep-learning based image reconstruction "
               "at 3T. Pain Med. 2023;24(Suppl 1). doi:10.1093/pm/pnad035.",
    "tang2024": "Tang H, Hong M, Yu L, et al. Deep learning reconstruction for lumbar spine MRI acceleration: a "
                "prospective study. Eur Radiol Exp. 2024. doi:10.1186/s41747-024-00470-0.",
    "koo2025": "Koo SJ, Yoo RE, Choi KS, et al. Deep learning-based reconstruction for accelerated cervical spine "
               "MRI: utility in the evaluation of myelopathy and degenerative diseases. AJNR Am J Neuroradiol. "
               "2025;46(4):750–757. doi:10.3174/ajnr.A8567.",
    "bash2022": "Bash S, Johnson B, Gibbs W, Zhang T, Shankaranarayanan A, Tanenbaum LN. Deep learning image "
                "processing enables 40% faster spinal MR scans which match or exceed quality of standard of care: a "
                "prospective multicenter multireader study. Clin Neuroradiol. 2022;32:197–203.",
    "gwet": "Gwet KL. Handbook of Inter-Rater Reliability. 4th ed. Gaithersburg: Advanced Analytics; 2014.",
    "wilcoxon": "Wilcoxon F. Individual comparisons by ranking methods. Biometrics Bulletin. 1945;1:80–83.",
    "hl": "Hodges JL, Lehmann EL. Estimates of location based on rank tests. Ann Math Stat. 1963;34:598–611.",
    "ahn": "Ahn S, Park SH, Lee KH. How to demonstrate similarity by using noninferiority and equivalence "
           "statistical testing in radiology research. Radiology. 2013;267(2):328–338.",
    "bh": "Benjamini Y, Hochberg Y. Controlling the false discovery rate: a practical and powerful approach to "
          "multiple testing. J R Stat Soc B. 1995;57:289–300.",
    "shapiro": "Shapiro SS, Wilk MB. An analysis of variance test for normality. Biometrika. 1965;52:591–611.",
    "cohen": "Cohen J. Weighted kappa: nominal scale agreement with provision for scaled disagreement or partial "
             "credit. Psychol Bull. 1968;70:213–220.",
    "conger": "Conger AJ. Integration and generalization of kappas for multiple raters. Psychol Bull. "
              "1980;88:322–328.",
    "fleiss": "Fleiss JL. Measuring nominal scale agreement among many raters. Psychol Bull. 1971;76:378–382.",
    "icc": "McGraw KO, Wong SP. Forming inferences about some intraclass correlation coefficients. Psychol Methods. "
           "1996;1:30–46.",
    "mcnemar": "McNemar Q. Note on the sampling error of the difference between correlated proportions or "
               "percentages. Psychometrika. 1947;12:153–157.",
    "clopper": "Clopper CJ, Pearson ES. The use of confidence or fiducial limits illustrated in the case of the "
               "binomial. Biometrika. 1934;26:404–413.",
    "gee": "Liang KY, Zeger SL. Longitudinal data analysis using generalized linear models. Biometrika. "
           "1986;73:13–22.",
    "bland": "Bland JM, Altman DG. Statistical methods for assessing agreement between two methods of clinical "
             "measurement. Lancet. 1986;327:307–310.",
    "or": "Obuchowski NA, Rockette HE. Hypothesis testing of diagnostic accuracy for multiple readers and multiple "
          "tests: an ANOVA approach with dependent observations. Commun Stat Simul Comput. 1995;24:285–308.",
    "hillis": "Hillis SL. A comparison of denominator degrees of freedom methods for multiple observer ROC "
              "analysis. Stat Med. 2007;26:596–619.",
    "ssim": "Wang Z, Bovik AC, Sheikh HR, Simoncelli EP. Image quality assessment: from error visibility to "
            "structural similarity. IEEE Trans Image Process. 2004;13(4):600–612.",
    "spearman": "Spearman C. The proof and measurement of association between two things. Am J Psychol. "
                "1904;15:72–101.",
}



# --- methods --------------------------------------------------------------------------------------

def methods_text(ctx: Context, sections: list[Section], stamp: dict[str, Any]) -> tuple[str, list[str]]:
    """The Methods paragraph for the sections present, with numbered citations, and the reference list."""
    res, cfg, label, order, integrity = ctx.result, ctx.cfg, ctx.label, ctx.order, ctx.integrity
    refs: list[str] = []

    def cite(*keys: str) -> str:
        nums = []
        for key in keys:
            text = REFERENCES[key]
            if text not in refs:
                refs.append(text)
            nums.append(refs.index(text) + 1)
        return "[" + ", ".join(map(str, nums)) + "]"

    present = {s.key for s in sections if s.present}
    meta = res.meta
    readers, cases = len(meta["readers"]), meta["cases"]
    arms = [a for a in order.values(meta["arms"], cfg.reference)]
    arms_text = (f" and {len(arms)} arms ({', '.join(arms)}); {cfg.reference} was the reference arm" if arms
                 else "")
    parts = [
        f"{readers} readers scored {cases} cases in {len(meta['sequences'])} sequence(s) "
        f"({', '.join(meta['sequences'])}){arms_text} ({meta['answers']} answers)."
    ]
    unit = ("the readers' mean score per case" if cfg.unit == "case-mean" else "each reader's score per case")
    if "noninferiority" in present:
        ni = [it for it in cfg.items.values() if it.noninferiority]
        by_margin: dict[tuple[float, str], list[str]] = {}
        for it in ni:
            by_margin.setdefault((it.margin, it.direction), []).append(label(it.name))
        margins = "; ".join(f"a margin of {m:g} for {', '.join(names)} (noninferior when arm − reference "
                            f"{'>' if d == 'greater' else '<'} {m:g})" for (m, d), names in by_margin.items())
        head = (f"Noninferiority of each arm against {cfg.reference} was tested per sequence and item on {unit} "
                f"with one-sided Wilcoxon signed-rank tests {cite('wilcoxon', 'ahn')} with {margins}; the difference "
                f"is summarised by the Hodges–Lehmann pseudomedian {cite('hl')} with its one-sided ")
        adj = {"bh": f"Benjamini–Hochberg false discovery rate {cite('bh')}", "bonferroni": "Bonferroni",
               "none": "no"}[cfg.fdr]
        parts.append(
            head +
            f"{int(round(100 * cfg.confidence))}% confidence bound, and p values received {adj} adjustment over all "
            f"comparisons, at α = {cfg.alpha:g}.")
    if "per_reader" in present or "quantitative" in present:
        correction = "Bonferroni correction over readers" if cfg.paired_adjust == "bonferroni" else "no correction"
        parts.append(
            "Per reader, each arm was compared with the reference by the two-sided paired t test when the "
            f"Shapiro–Wilk test {cite('shapiro')} did not reject normality of the differences, otherwise by the "
            f"Wilcoxon signed-rank test, with {correction}.")
    if "conger" in present or "agreement" in present:
        text = (f"Inter-reader agreement was measured by Conger's κ {cite('conger')} ({cfg.conger_weights} weights "
                f"for Likert items), with Cohen's κ {cite('cohen')} for reader pairs and for each reader's "
                "arm-versus-reference (interprotocol) agreement")
        if not res["kappa"].empty and (res["kappa"]["method"] == "fleiss").any():
            text += f", and Fleiss' κ {cite('fleiss')} over all readers"
        parts.append(text + "; κ was interpreted as slight (0–0.2), fair (0.2–0.4), moderate (0.4–0.6), "
                     "substantial (0.6–0.8) or almost perfect (>0.8).")
    if "quantitative" in present:
        parts.append(
            "SNR was computed as the ROI signal divided by the background SD and CNR as the absolute signal "
            "difference divided by the background SD, per reader and case; inter-reader reliability of "
            f"measurements by ICC(A,1) (two-way random, absolute agreement) {cite('icc')}, and agreement between "
            f"arms by Bland–Altman analysis {cite('bland')}.")
    if "detection" in present:
        parts.append(f"Detection of findings per case and level in each arm and in the reference was compared by "
                     f"the exact McNemar test {cite('mcnemar')}.")
    if "accuracy" in present:
        parts.append(
            "Sensitivity and specificity against the reference standard are given per reader with exact "
            f"Clopper–Pearson intervals {cite('clopper')}, and arms were compared across readers by generalized "
            f"estimating equations {cite('gee')} (binomial family, logit link, exchangeable working correlation, "
            "clustered by case, robust standard errors).")
    if "preference" in present and not res["preference"].empty:
        parts.append(
            "Side-by-side preference scores were tested against the scale midpoint (no difference) by two-sided "
            f"Wilcoxon signed-rank tests {cite('wilcoxon')}, and inter-reader correlation by Spearman's ρ "
            f"{cite('spearman')}.")
    elif "preference" in present:
        parts.append(f"Inter-reader correlation of ordinal scores was measured by Spearman's ρ {cite('spearman')}.")
    if "integrity" in present and integrity is not None:
        parts.append(f"Image integrity was measured against the reference reconstruction by SSIM {cite('ssim')} "
                     "and the per-pixel L1 difference (scikit-image).")
    if "mrmc" in present:
        specs = "; ".join(f"{m.name} ({m.fom}, margin {m.margin:g})" for m in cfg.mrmc)
        parts.append(
            "Multi-reader multi-case analyses treating readers and cases as random used the Obuchowski–Rockette "
            f"method {cite('or')} with Hillis denominator degrees of freedom {cite('hillis')}: {specs}.")
    if present & {"conger", "agreement", "quantitative", "accuracy", "mrmc"}:
        parts.append("Wald-type confidence intervals of bounded statistics (κ, ICC, differences of proportions or "
                     f"AUCs) that reached past the parameter range were truncated at the bound {cite('gwet')}; the "
                     "analysis tables note each truncation.")
    if population_note := _population_sentence(res, cfg):
        parts.append(population_note)
    seeds = [key for sec in sections if sec.present for key in sec.cites]
    if seeds:
        parts.append("Tables follow the layout of published reader studies of accelerated spine MRI "
                     f"{cite(*dict.fromkeys(seeds))}.")
    v = meta.get("versions", {})
    parts.append(
        f"Analyses used readerstudy {stamp['version']} with Python {meta.get('python', '?')}, NumPy "
        f"{v.get('numpy', '?')}, pandas {v.get('pandas', '?')}, SciPy {v.get('scipy', '?')} and statsmodels "
        f"{v.get('statsmodels', '?')} (figures: matplotlib {_matplotlib_version()}); two-sided p < {cfg.alpha:g} "
        "was considered significant unless stated.")
    return " ".join(parts), refs


def _population_sentence(res, cfg) -> str:
    pop = res["population"]
    if pop.empty:
        return ""
    if cfg.population_readers == "complete":
        return ("Only readers who answered every read of the study entered the analysis; training reads and "
                "training cases never did.")
    return "Every reader with an answer entered the analysis; training reads and training cases never did."


def _matplotlib_version() -> str:
    import matplotlib

    return matplotlib.__version__

