"""``python manage.py recover_jobs``: the workers' recovery sweep, by hand (or from cron)."""

from django.core.management.base import BaseCommand

from readerstudy.jobs.lifecycle import jobs_recover


class Command(BaseCommand):
    help = "Queue again (or fail) jobs whose worker died, sweep their temporary files, re-send lost queued jobs."

    def handle(self, *args, **options):
        acted = jobs_recover()
        self.stdout.write(f"recovered: {acted or 'nothing to do'}")
