"""``python manage.py grant_coordinator USERNAME [--revoke]``: let a user create studies."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from readerstudy.studies.permissions import coordinator_grant, coordinator_revoke


class Command(BaseCommand):
    help = "Give a user the coordinator permission (create studies, use the workspace), or take it away."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--revoke", action="store_true", help="take the permission away")

    def handle(self, *args, username: str, revoke: bool, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"no user named {username!r} (create it first: python manage.py createsuperuser, or the admin)") from None
        if revoke:
            coordinator_revoke(user=user)
            self.stdout.write(f"{username} may no longer create studies (studies they coordinate stay theirs)")
        else:
            coordinator_grant(user=user)
            self.stdout.write(f"{username} may now create studies and use the workspace")
