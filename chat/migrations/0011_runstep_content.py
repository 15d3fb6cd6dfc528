from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0008_branches_and_share_links"),
    ]

    operations = [
        migrations.AddField(
            model_name="runstep",
            name="content",
            field=models.JSONField(
                blank=True, default=list, help_text="The result's parts: images, audio, links, data."
            ),
        ),
    ]
