"""Helpers shared by the workspace tests (server and browser)."""

from __future__ import annotations

from readerstudy.reading import services as reading
from readerstudy.reading.selectors import applicable_items


def submit_all(session, reader):
    """Answer and submit every unsubmitted read of ``session`` through the reading service."""
    for read in session.reads.filter(submitted_at__isnull=True).order_by("position"):
        items = applicable_items(read)
        answers = []
        for item in items:
            if item.kind == "likert":
                answers.append({"item": item.key, "level": "", "value": item.scale_min + (read.pk + len(answers)) % (item.scale_max - item.scale_min + 1),
                                "payload": {}})
            elif item.kind in ("binary",):
                answers.append({"item": item.key, "level": "", "value": read.pk % 2, "payload": {}})
            elif item.kind == "checklist":
                answers += [{"item": item.key, "level": lv, "value": 0, "payload": {}} for lv in item.levels]
        reading.read_submit(read=read, reader=reader, submission_id=f"submit-{read.pk:06d}", answers=answers, comment="",
                            active_seconds=12.0)
