from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("studies", "0002_auditevent_append_only"),
    ]

    operations = [
        migrations.AddField(
            model_name="study",
            name="reading_design",
            field=models.JSONField(
                blank=True,
                default=dict,
                help_text="Reading design the schedule was built from (reading.scheduler).",
            ),
        ),
    ]
