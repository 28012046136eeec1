"""The report's figures (matplotlib, Agg): PNG for the HTML/PDF, SVG for the zip."""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd

from readerstudy.analysis.common import ALL, unit_means

from .document import Context, Figure

# --- figures --------------------------------------------------------------------------------------

def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 8, "svg.fonttype": "none", "svg.hashsalt": "readerstudy",
                         "axes.spines.top": False, "axes.spines.right": False})
    return plt


def _save(fig, key: str, title: str, caption: str) -> Figure:
    plt = _plt()
    png, svg = io.BytesIO(), io.BytesIO()
    # Constrained layout, no bbox_inches="tight": each save draws the figure once.
    fig.savefig(png, format="png", dpi=120)
    fig.set_layout_engine("none")  # keep the layout the PNG got; the SVG need not compute it again
    fig.savefig(svg, format="svg", metadata={"Date": None})
    plt.close(fig)
    return Figure(key, title, caption, png.getvalue(), svg.getvalue())


def boxplots(single: pd.DataFrame, items: list[str], ctx: Context) -> Figure:
    plt = _plt()
    cfg, label, order = ctx.cfg, ctx.label, ctx.order
    data = unit_means(single[single["item"].isin(items)], ["sequence", "item", "arm", "case"])
    seqs = order.values(data["sequence"])
    arms = order.values(data["arm"], cfg.reference)
    fig, axes = plt.subplots(len(seqs), len(items), figsize=(2.3 * len(items) + 0.6, 2.1 * len(seqs) + 0.4),
                             squeeze=False, sharey=True, layout="constrained")
    for i, seq in enumerate(seqs):
        for j, item in enumerate(items):
            ax = axes[i][j]
            sub = data[(data["sequence"] == seq) & (data["item"] == item)]
            groups = [sub[sub["arm"] == a]["value"].to_numpy() for a in arms]
            ax.boxplot(groups, tick_labels=arms, whis=1.5, flierprops={"marker": "+", "markeredgecolor": "red"},
                       medianprops={"color": "black"})
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
            scale = cfg.items[item].scale
            if scale:
                ax.set_ylim(scale[0] - 0.3, scale[1] + 0.3)
            ax.set_title(f"{seq}: {label(item)}", fontsize=8)
    return _save(fig, "boxplots", "Scores per sequence, item and arm",
                 "Readers' mean score per case; box: quartiles and median, whiskers 1.5 IQR, red crosses outliers.")


def forest(t: pd.DataFrame, ctx: Context) -> Figure:
    plt = _plt()
    cfg, label, order = ctx.cfg, ctx.label, ctx.order
    items = [name for name in cfg.items if name in set(t["item"])]
    t = t[t["reader"] == ALL] if (t["reader"] == ALL).any() else t
    n_rows = max(len(t[t["item"] == i]) for i in items)
    fig, axes = plt.subplots(1, len(items), figsize=(2.6 * len(items) + 1.2, 0.28 * n_rows + 1.2), squeeze=False,
                             layout="constrained")
    for j, item in enumerate(items):
        ax = axes[0][j]
        sub = t[t["item"] == item]
        sub = sub.iloc[sorted(range(len(sub)), key=lambda i: (order.rank(sub["sequence"].iloc[i]),
                                                               order.rank(sub["arm"].iloc[i])))].reset_index(drop=True)
        y = np.arange(len(sub))[::-1]
        margin = float(sub["margin"].iloc[0])
        direction = sub["direction"].iloc[0]
        est = sub["pseudomedian"].astype(float).to_numpy()
        bound = sub["conf_bound"].astype(float).to_numpy()
        ok = sub["noninferior"].astype(bool).to_numpy()
        span = np.nanmax(np.abs(np.concatenate([est, bound, [margin]]))) * 1.3 + 0.1
        for yi, e, b, good in zip(y, est, bound, ok):
            colour = "tab:green" if good else "tab:gray"
            far = span if direction == "greater" else -span
            if np.isfinite(b):
                ax.plot([b, far], [yi, yi], color=colour, lw=1.2)
                ax.plot([b], [yi], marker="|", color=colour, ms=8)
            ax.plot([e], [yi], marker="o", color=colour, ms=4)
        ax.axvline(0, color="black", lw=0.6)
        ax.axvline(margin, color="red", ls="--", lw=0.9)
        ax.set_xlim(-span, span)
        ax.set_yticks(y)
        names = [f"{s} {a}" + (f" {r}" if r != ALL else "")
                 for s, a, r in zip(sub["sequence"], sub["arm"], sub["reader"])]
        ax.set_yticklabels(names if j == 0 else [], fontsize=7)
        ax.set_title(f"{label(item)} (margin {margin:g})", fontsize=8)
        ax.set_xlabel(f"arm − {cfg.reference}")
    conf = int(round(100 * cfg.confidence))
    return _save(fig, "forest", "Difference of each arm from the reference",
                 f"Hodges–Lehmann pseudomedian (dot) and one-sided {conf}% confidence bound (bar, open towards the "
                 "noninferior side); red dashed line: the noninferiority margin; green: noninferior after adjustment.")


def kappa_heatmap(k: pd.DataFrame, items: list[str], ctx: Context) -> Figure:
    plt = _plt()
    cfg, label, order = ctx.cfg, ctx.label, ctx.order
    seqs = order.values(k["sequence"])
    arms = order.values(k["arm"], cfg.reference)
    fig, axes = plt.subplots(1, len(seqs), figsize=(1.0 * len(arms) * len(seqs) + 2.5, 0.45 * len(items) + 1.4),
                             squeeze=False, layout="constrained")
    im = None
    for j, seq in enumerate(seqs):
        ax = axes[0][j]
        mat = np.full((len(items), len(arms)), np.nan)
        sub = k[k["sequence"] == seq]
        for _, r in sub.iterrows():
            if r["item"] in items and r["arm"] in arms:
                mat[items.index(r["item"]), arms.index(r["arm"])] = r["kappa"]
        im = ax.imshow(mat, vmin=-0.2, vmax=1.0, cmap="viridis", aspect="auto")
        for (a, b), v in np.ndenumerate(mat):
            if np.isfinite(v):
                ax.text(b, a, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v < 0.5 else "black")
        ax.set_xticks(range(len(arms)))
        ax.set_xticklabels(arms, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(items)))
        ax.set_yticklabels([label(i) for i in items] if j == 0 else [], fontsize=7)
        ax.set_title(seq, fontsize=8)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="Conger's κ")
    return _save(fig, "kappa_heatmap", "Conger's κ per sequence, item and arm",
                 "Interobserver agreement over all readers; darker is lower agreement.")


def bland_altman(units: pd.DataFrame, ctx: Context) -> Figure:
    plt = _plt()
    cfg, label, order = ctx.cfg, ctx.label, ctx.order
    panels = list(units.groupby(["sequence", "item"], sort=True))
    ncol = min(3, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 2.5 * nrow), squeeze=False, layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for idx, ((seq, item), grp) in enumerate(panels):
        ax = axes[idx // ncol][idx % ncol]
        for c, (arm, g) in enumerate(grp.groupby("arm", sort=True)):
            mean = (g["x"] + g["y"]) / 2
            diff = g["x"] - g["y"]
            bias, sd = diff.mean(), diff.std(ddof=1)
            col = colours[c % len(colours)]
            ax.scatter(mean, diff, s=10, color=col, label=f"{arm}")
            ax.axhline(bias, color=col, lw=1)
            if np.isfinite(sd):
                for lim in (bias - 1.96 * sd, bias + 1.96 * sd):
                    ax.axhline(lim, color=col, lw=0.7, ls="--")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_title(f"{seq}: {label(item)}", fontsize=8)
        ax.set_xlabel("mean of arm and reference")
        ax.set_ylabel(f"arm − {cfg.reference}")
        ax.legend(fontsize=6, frameon=False, loc="upper right")  # "best" searches the data: slow
    for idx in range(len(panels), nrow * ncol):
        axes[idx // ncol][idx % ncol].axis("off")
    return _save(fig, "bland_altman", "Bland–Altman plots of the measurements",
                 "Per case (readers' mean): difference against mean; solid line: bias, dashed: 95% limits of "
                 "agreement.")



def measurement_correlation(units: pd.DataFrame, table: pd.DataFrame, ctx: Context) -> Figure:
    """Each arm's measurement against the reference's per case, with the least-squares line and r²
    (seed 000 Figure 6); one panel per sequence × measure."""
    plt = _plt()
    cfg, label, order = ctx.cfg, ctx.label, ctx.order
    panels = [(seq, item) for seq in order.values(units["sequence"])
              for item in sorted(set(units[units["sequence"] == seq]["item"]))]
    ncol = min(3, len(panels))
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 2.6 * nrow), squeeze=False, layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for idx, (seq, item) in enumerate(panels):
        ax = axes[idx // ncol][idx % ncol]
        grp = units[(units["sequence"] == seq) & (units["item"] == item)]
        lo = float(min(grp["x"].min(), grp["y"].min()))
        hi = float(max(grp["x"].max(), grp["y"].max()))
        for c, arm in enumerate(order.values(grp["arm"])):
            g = grp[grp["arm"] == arm]
            col = colours[c % len(colours)]
            row = table[(table["sequence"] == seq) & (table["item"] == item) & (table["arm"] == arm)]
            r2 = float(row["r_squared"].iloc[0]) if len(row) else float("nan")
            ax.scatter(g["y"], g["x"], s=10, color=col, label=f"{arm} (r² {r2:.2f})" if np.isfinite(r2) else arm)
            if len(row) and np.isfinite(row["slope"].iloc[0]):
                xs = np.array([lo, hi])
                ax.plot(xs, row["intercept"].iloc[0] + row["slope"].iloc[0] * xs, color=col, lw=1)
        ax.plot([lo, hi], [lo, hi], color="black", lw=0.6, ls=":")
        ax.set_title(f"{seq}: {label(item)}", fontsize=8)
        ax.set_xlabel(cfg.reference)
        ax.set_ylabel("arm")
        ax.legend(fontsize=6, frameon=False, loc="upper left")
    for idx in range(len(panels), nrow * ncol):
        axes[idx // ncol][idx % ncol].axis("off")
    return _save(fig, "measurement_correlation", "Measurements of each arm against the reference",
                 "Per case (readers' mean): arm against reference, least-squares line per arm with its r²; dotted: "
                 "identity.")
