from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("latency", "0018_batch_jobs")]

    operations = [
        migrations.AddField(
            model_name="cacheentry",
            name="citations",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
