"""Blinded DICOM serving (filled by the import/blinding work)."""

from django.http import Http404


def instance_file(request, public_id: str):
    raise Http404
