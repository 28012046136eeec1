"""Writes of the reading area, keyword-only, validated and atomic (STYLE.md).

- :mod:`.reads`: a reader's work on a read — start, autosave a draft, submit, revise, heartbeat —
  session completion and the coordinator's audited opening override.
- :mod:`.reopen`: the coordinator's audited reopening of a submitted read for revision.
- :mod:`.viewer`: the study's window presets (coordinator).
- :mod:`.schedule`: writing the seeded schedule (:mod:`readerstudy.reading.scheduler`, pure) as
  Session and Read rows.

Callers import from here (``from readerstudy.reading import services``); the reads live in
:mod:`readerstudy.reading.selectors`.
"""

from .reads import (
    AnswerInvalidError,
    AnswersIncompleteError,
    ReadAccessError,
    ReadingError,
    ReadLockedError,
    SubmitResult,
    answer_draft_save,
    check_read_access,
    read_heartbeat,
    read_revise,
    read_start,
    read_submit,
    session_complete_if_done,
    session_override_opening,
)
from .reopen import ReopenError, read_reopen
from .schedule import ScheduleError, ScheduleStartedError, design_resolve, schedule_materialize
from .viewer import viewer_settings_set

# The workspace's schedule preview (``workspace.selectors``) compares what would be written with
# what is stored through these; they stay importable here until it has a public selector.
from .schedule import _as_design, _existing_rows, _schedule_for, _series_rows  # noqa: F401

__all__ = [
    "AnswerInvalidError", "AnswersIncompleteError", "ReadAccessError", "ReadingError", "ReadLockedError",
    "ScheduleError", "ScheduleStartedError", "SubmitResult", "answer_draft_save", "check_read_access", "design_resolve",
    "ReopenError", "read_heartbeat", "read_reopen", "read_revise", "read_start", "read_submit", "schedule_materialize",
    "session_complete_if_done", "session_override_opening", "viewer_settings_set",
]
