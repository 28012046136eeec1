"""The statistics report of a study: a verdict page, analysis tables shaped like the seed papers',
figures, a Methods paragraph, an appendix and a stamp, rendered as HTML, PDF, XLSX and a zip.

Pure (no Django): ``build`` (entry point), ``document`` (the report's types and the build's
context), ``verdict``, ``tables``, ``figures``, ``methods``, ``formatting`` and ``render``.
Django glue: ``models``, ``selectors``, ``services``, ``tasks``, ``views`` and ``apis``.
"""
