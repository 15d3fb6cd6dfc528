import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("chat", "0010_files_on_threads_and_messages"),
    ]

    operations = [
        migrations.AddField(
            model_name="message",
            name="parent",
            field=models.ForeignKey(
                blank=True,
                help_text="The message it follows.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="chat.message",
            ),
        ),
        migrations.AddField(
            model_name="message",
            name="edited_from",
            field=models.ForeignKey(
                blank=True,
                help_text="The message it edits.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="chat.message",
            ),
        ),
        migrations.AddField(
            model_name="run",
            name="reply_to",
            field=models.ForeignKey(
                blank=True,
                help_text="What it answers.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="chat.message",
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="current",
            field=models.ForeignKey(
                blank=True,
                help_text="The message whose branch is shown, and answered next.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="chat.message",
            ),
        ),
        migrations.AddField(
            model_name="conversation",
            name="share_token",
            field=models.CharField(
                blank=True,
                help_text="Anyone with the link can read the conversation.",
                max_length=64,
                null=True,
                unique=True,
            ),
        ),
    ]
