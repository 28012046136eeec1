"""The end-to-end demo study (issue 7): phantom cases through the recon worker, a schedule,
simulated answers for two of its three readers, and the statistics report.

* :mod:`recon.quality` (the project's one image-quality module) — pure: measurements of a series
  against the phantom's noise-free Truth (SNR, sharpness, in-body SSIM/PSNR, L1).
* :mod:`readerstudy.demo.reader_model` — pure: the documented model of a simulated reader.
* :mod:`readerstudy.demo.services` — Django glue: build the study, queue the recon jobs, measure
  the series, write the simulated answers through the real answer services, request the report.

``python manage.py load_demo`` is the one entry point (``./run demo`` calls it).
"""
