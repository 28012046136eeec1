"""The analysis population: which readers (and so which reads) enter the statistics.

A *read* here is what the tidy answers can show: one reader's answers to one case × sequence × arm
(for a side-by-side item, the pair ``A|B`` is the arm). The study's reads are every such
combination that any reader answered; a reader is *complete* when they answered all of them.
Training reads and training cases never reach the tidy answers (``reading.export.answers_tidy``).

``[population] readers``: ``"all"`` (every reader with an answer enters; the default) or
``"complete"`` (only readers who answered every read of the study; the others are listed as
excluded with the count of their reads).
"""
from __future__ import annotations

import pandas as pd

from .common import frame

POPULATION_MODES = ("all", "complete")

#: Columns of the ``population`` table.
COLUMNS = ["reader", "reads", "study_reads", "answers", "complete", "included", "reason"]


def select_population(answers: pd.DataFrame, readers: str = "all") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Filter validated answers to the analysis population.

    Parameters
    ----------
    answers : DataFrame
        Validated tidy answers (``reader, case, sequence, arm, item, level, value``).
    readers : {"all", "complete"}
        Which readers enter.

    Returns
    -------
    (DataFrame, DataFrame)
        The answers of the readers who enter, and the ``population`` table, one row per reader:
        ``reader, reads`` (case × sequence × arm combinations answered), ``study_reads`` (those
        any reader answered), ``answers``, ``complete``, ``included``, ``reason`` (why a reader
        is excluded, or why an incomplete reader was kept).

    Raises
    ------
    ValueError
        An unknown mode, or no reader left in the population.
    """
    if readers not in POPULATION_MODES:
        raise ValueError(f"config [population] readers: {readers!r} is not one of {', '.join(POPULATION_MODES)}")
    keys = ["case", "sequence", "arm"]
    reads = answers[["reader", *keys]].drop_duplicates()
    study_reads = int(len(reads[keys].drop_duplicates()))
    per_reader = reads.groupby("reader", sort=True).size()
    n_answers = answers.groupby("reader", sort=True).size()
    rows = []
    for reader, count in per_reader.items():
        complete = int(count) == study_reads
        included = complete or readers == "all"
        if complete:
            reason = ""
        elif included:
            reason = f"incomplete ({int(count)} of {study_reads} reads), kept: population is all readers"
        else:
            reason = f"incomplete: {int(count)} of {study_reads} reads answered"
        rows.append({"reader": reader, "reads": int(count), "study_reads": study_reads,
                     "answers": int(n_answers[reader]), "complete": complete, "included": included,
                     "reason": reason})
    table = frame(rows, COLUMNS)
    keep = set(table.loc[table["included"].astype(bool), "reader"]) if rows else set()
    if rows and not keep:
        raise ValueError("config [population] readers = \"complete\": no reader answered every read of the study "
                         f"({study_reads} reads); use readers = \"all\" or complete the readings")
    return answers[answers["reader"].isin(keep)], table
