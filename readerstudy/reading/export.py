"""The tidy answers table (DESIGN.md, "Interfaces that others depend on"): one row per answer of a
submitted, non-training read, in the columns the analysis CLI reads.

Columns
-------
study : str          study name
reader : str         the reader's username
case : str           case label
sequence : str       sequence name; for a case read (hanging protocol) the protocol layout: its
                     sequences in pane order joined by " + ", e.g. ``SAG T2 FS + SAG T1 + AX T2``
                     (per-level answers), or for a series-level item asked per sequence inside
                     the case read, that sequence (its level is then empty)
arm : str            arm name; for a side-by-side read the pair ``A|B``, first arm of the pair first
                     (the design's pair order, else reference first; see ``selectors.pair_orientation``)
item : str           item key
level : str          checklist level; empty for series-level items
value : float        the answer; for a preference item from the first arm's point of view
                     (1 = first much better ... 5 = second much better on the seed 003 scale)
session : int        1-based session number of the reader
position : int       1-based position of the read in its session
read_started : str   ISO 8601 time the read was first opened (UTC)
read_seconds : float active seconds on the read (page heartbeats, bounded by the server)
side : str           preference items: where the first arm was shown (``left``/``right``); else empty
raw_value : float    preference items: the score as the reader gave it (left/right scale); else empty

``side`` and ``raw_value`` are optional columns of ``analysis.tidy``.

A checklist cell answered "not assessable" (items that offer it, see
``selectors.allows_not_assessable``) has no value and is left out: it is neither absent nor present.
"""

from __future__ import annotations

import pandas as pd

from readerstudy.studies.models import Item, Study

from .selectors import pair_orientation
from .models import Answer, ReadSeries

COLUMNS = [
    "study", "reader", "case", "sequence", "arm", "item", "level", "value",
    "session", "position", "read_started", "read_seconds", "side", "raw_value",
]


def _protocol_layouts(study: Study) -> dict[int, list[str]]:
    """Case reads of ``study``: read id → sequence names in pane order (one query)."""
    out: dict[int, list[str]] = {}
    for read_id, name in (
        ReadSeries.objects.filter(read__session__study=study).order_by("read_id", "position")
        .values_list("read_id", "series__sequence__name")
    ):
        out.setdefault(read_id, []).append(name)
    return out


def answers_tidy(study: Study) -> pd.DataFrame:
    """Every answer of ``study``'s submitted reads, training reads and training cases excluded.

    Returns a DataFrame with the columns of the module docstring, sorted by reader, session,
    position, item order and level.
    """
    answers = (
        Answer.objects.filter(
            read__session__study=study,
            read__submitted_at__isnull=False,
            read__session__is_training=False,
            read__series__case__is_training=False,
            value__isnull=False,
        )
        .select_related(
            "item", "read__session__reader", "read__session__study", "read__series__case",
            "read__series__sequence", "read__series__arm", "read__series_right__arm",
        )
        .order_by("read__session__reader__username", "read__session__index", "read__position", "item__order",
                  "item__key", "level")
    )
    panes_of = _protocol_layouts(study)
    layouts = {read_id: " + ".join(names) for read_id, names in panes_of.items()}
    rows = []
    orientations: dict[int, object] = {}
    for answer in answers:
        read = answer.read
        if read.series_right_id is not None:
            if read.pk not in orientations:
                orientations[read.pk] = pair_orientation(read)
            pair = orientations[read.pk]
            arm = f"{pair.first.name}|{pair.second.name}"
        else:
            arm = read.series.arm.name
        preference = answer.item.kind == Item.Kind.PREFERENCE
        sequence, level = layouts.get(read.pk, read.series.sequence.name), answer.level
        if level.startswith("@") and read.pk in panes_of:
            # A series-level item asked per sequence inside a case read: that pane's sequence.
            sequence, level = panes_of[read.pk][int(level[1:]) - 1], ""
        rows.append({
            "study": study.name,
            "reader": read.session.reader.username,
            "case": read.series.case.label,
            "sequence": sequence,
            "arm": arm,
            "item": answer.item.key,
            "level": level,
            "value": answer.value,
            "session": read.session.index + 1,
            "position": read.position + 1,
            "read_started": read.started_at.isoformat() if read.started_at else "",
            "read_seconds": round(read.active_seconds, 1),
            "side": answer.payload.get("first_side", "") if preference else "",
            "raw_value": answer.payload.get("raw") if preference else None,
        })
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["value"] = frame["value"].astype(float)
    frame["raw_value"] = frame["raw_value"].astype(float)
    return frame


def answers_csv(study: Study) -> str:
    """:func:`answers_tidy` as CSV text (empty cells for missing values)."""
    frame = answers_tidy(study)
    return frame.to_csv(index=False, float_format="%.10g")
