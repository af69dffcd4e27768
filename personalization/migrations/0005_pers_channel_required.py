import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Its own migration (its own transaction): PostgreSQL refuses to ALTER a table whose rows the
    previous migration's data step just updated ("pending trigger events")."""

    dependencies = [
        ("personalization", "0004_pers"),
    ]

    operations = [
        migrations.AlterField(
            model_name='publishingchannel',
            name='channel',
            field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='publishing', to='personalization.channel'),
        ),
    ]
