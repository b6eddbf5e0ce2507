"""``python manage.py open311_key NAME`` — issue an Open311 API key and print it (once)."""

from django.core.management.base import BaseCommand, CommandError

from apps.public import services


class Command(BaseCommand):
    help = (
        "Issue a new Open311 API key for a client called NAME and print it. Only a hash is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="who the key is for, e.g. '12345 热线系统'")

    def handle(self, *args, name: str, **options):
        try:
            key, raw = services.open311_key_issue(name=name)
        except services.PublicError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"Open311 key #{key.pk} for {key.name!r} (shown only now; store it safely):"
        )
        self.stdout.write(raw)
