"""The import's rule of the publish checklist (``studies.selectors.publish_checklist`` discovers
this module): what the import could not make uniform across the arms of a case × sequence."""

from __future__ import annotations

from collections.abc import Iterable

from readerstudy.studies.models import Study
from readerstudy.studies.selectors import Problem, publish_rule

from .selectors import representation_problems


@publish_rule(35)
def representation(study: Study) -> Iterable[Problem]:
    for message in representation_problems(study):
        yield Problem("representation", message, "cases")
