"""One lifecycle for every worker job (DICOM imports, recon jobs, reports).

* :class:`readerstudy.jobs.models.JobBase`: the fields every job model shares (state, progress,
  message, error, attempts, the worker running it and its heartbeat, times).
* :mod:`readerstudy.jobs.lifecycle`: claim, heartbeat, progress, finish, fail; ``job_running`` (what
  a task wraps its work in: the worker's identity, a heartbeat thread, a private temporary folder
  swept afterwards) and ``jobs_recover`` (a job whose worker died is re-queued, or failed after
  ``JOB_MAX_ATTEMPTS``, and its temporary files are swept).
* :mod:`readerstudy.jobs.kinds`: the registered kinds (model, Celery task name, what to sweep).
* :mod:`readerstudy.jobs.worker`: recovery when a worker starts and every ``JOB_SWEEP_SECONDS``.
"""
