from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "readerstudy.imports"
    label = "imports"
    verbose_name = "DICOM import"
