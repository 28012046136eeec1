"""The import tests share the generated MR series and the study of tests/studies/conftest.py."""

from tests.studies.conftest import (  # noqa: F401 - pytest fixtures
    N_INSTANCES,
    N_SERIES,
    SLICES,
    Source,
    dicom_source,
    fixture_dicom,
    imported,
    make_session,
    state_of,
    study,
)
