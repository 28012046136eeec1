"""DICOM import: a zip or folder of MR series in, blinded Series and Instances out, all or nothing.

One module per concern (docs/import.md):

- :mod:`.archive` where files come from: zip safety, folder walking;
- :mod:`.mapping` which series is which: mapping CSV, header rules, the plan;
- :mod:`.headers` reading headers; :mod:`.validation` checks before anything is written;
- :mod:`.blinding` the blinded copy (one allow-list);
- :mod:`.staging` staging folder and the atomic commit;
- :mod:`.services` ``import_dicom`` and the jobs; :mod:`.tasks` the Celery task;
- :mod:`.apis` the imports endpoint; ``management/commands/import_dicom.py`` the command.

The ImportJob model stays in :mod:`readerstudy.studies.models`.
"""
