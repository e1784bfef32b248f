# The semantic threshold's default follows the learned verifier's cosine gate (0.70): the
# model, not the cosine, now decides above it. Existing rows keep the value they have.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("latency", "0016_api_key_limits")]

    operations = [
        migrations.AlterField(
            model_name="strategysettings",
            name="semantic_threshold",
            field=models.FloatField(default=0.7),
        ),
    ]
