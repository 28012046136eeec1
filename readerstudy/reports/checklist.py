"""The report's rule of the publish checklist (``studies.selectors.publish_checklist`` discovers
this module): the study's analysis settings must parse as the report will build them."""

from __future__ import annotations

from collections.abc import Iterable

from readerstudy.studies.models import Study
from readerstudy.studies.selectors import Problem, publish_rule


def analysis_settings_problem(study: Study) -> str:
    """The analysis engine's complaint about the study's settings (as the report would build them,
    with every item answered), or "" when they parse."""
    if not study.analysis_settings:
        return ""
    import pandas as pd

    from readerstudy.analysis.config import parse_config

    from .selectors import study_analysis_config

    answers = pd.DataFrame({"item": list(study.items.values_list("key", flat=True))})
    try:
        parse_config(study_analysis_config(study, answers))
    except (TypeError, ValueError, KeyError) as exc:
        return f"the analysis settings are invalid: {exc}"
    return ""


@publish_rule(85)
def analysis_settings(study: Study) -> Iterable[Problem]:
    problem = analysis_settings_problem(study)
    if problem:
        yield Problem("analysis_invalid", problem, "analysis")
