"""The statistics report of a study: analysis tables shaped like the seed papers', figures,
a Methods paragraph and a stamp, rendered as HTML, PDF, XLSX and a zip (issue 7).

``build`` and ``render`` are pure (no Django); ``models``, ``services``, ``tasks``, ``views`` and
``apis`` are the Django glue.
"""
