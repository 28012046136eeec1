"""What the scheduler would write for a study, per reader, without writing it (the coordinator's
preview before ``services.schedule_materialize``). A read; a new module beside ``selectors.py``
(moved here from the workspace) that can be folded into it."""

from __future__ import annotations

from collections import Counter
from typing import Any

from readerstudy.studies.models import Study
from readerstudy.studies.selectors import active_readers

from .scheduler import PairRead, build_schedule
from .services import ScheduleError, design_resolve


def schedule_preview(study: Study, design_data: dict[str, Any]) -> dict[str, Any]:
    """What :func:`reading.services.schedule_materialize` would write, per reader, without writing:
    sessions, reads, counts per arm, and when each session opens. Raises ValueError/TypeError with
    the scheduler's message for an impossible design."""
    # As schedule_materialize will write it: case reads decided the same way.
    try:
        design = design_resolve(study=study, design=design_data)
    except ScheduleError as exc:
        raise ValueError("; ".join(exc.messages)) from exc
    readers = {m.user_id: m.user.username for m in active_readers(study)}
    cases = list(study.cases.filter(is_training=False).values_list("label", flat=True))
    training = list(study.cases.filter(is_training=True).values_list("label", flat=True))
    sequences = list(study.sequences.values_list("name", flat=True))
    arms = list(study.arms.values_list("name", flat=True))
    for what, values in (("active readers", readers), ("cases", cases), ("sequences", sequences), ("arms", arms)):
        if not values:
            raise ValueError(f"the study has no {what} yet")
    schedule = build_schedule(study.seed, design, list(readers), cases, sequences, arms, training_cases=training)
    out = []
    for reader_id, username in sorted(readers.items(), key=lambda kv: kv[1]):
        sessions = []
        for session in schedule.for_reader(reader_id):
            per_arm: Counter = Counter()
            for read in session.reads:
                per_arm["|".join(map(str, (read.left_arm, read.right_arm))) if isinstance(read, PairRead) else str(read.arm)] += 1
            if session.index == 0:
                opens = "when the study is published"
            elif session.washout_days:
                opens = f"{session.washout_days} days after session {session.index} is finished"
            else:
                opens = f"as soon as session {session.index} is finished"
            sessions.append({
                "number": session.index + 1, "is_training": session.is_training, "reads": len(session.reads),
                "per_arm": dict(sorted(per_arm.items())), "washout_days": session.washout_days, "opens": opens,
            })
        out.append({"reader": username, "sessions": sessions, "reads": sum(s["reads"] for s in sessions)})
    return {"design": design.to_dict(), "seed": study.seed, "readers": out}
