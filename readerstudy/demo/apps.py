from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The end-to-end demo study; owns the ``load_demo`` command. It sits on top of the flow (it
    drives import, recon, schedule, reading and the report), so no other app imports it."""

    name = "readerstudy.demo"
    label = "demo"
    verbose_name = "Demo study"
