from django.db import migrations, models


def seed_playbooks(apps, schema_editor):
    # Runs in every tenant schema, the template included: tenants cloned from it start with the
    # shipped playbooks; `manage.py playbooks_sync` adds later releases' ones.
    from crisis.playbook_services import playbooks_sync

    playbooks_sync(model=apps.get_model("crisis", "Playbook"))


class Migration(migrations.Migration):
    dependencies = [
        ("crisis", "0003_aftermath"),
    ]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="idempotency_key",
            field=models.CharField(blank=True, max_length=100, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="incident",
            name="request_digest",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.RunPython(seed_playbooks, migrations.RunPython.noop),
    ]
