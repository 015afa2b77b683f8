from tortoise import migrations
from tortoise.migrations import operations as ops
from storage.models import UtcDatetimeField
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_lifecycles')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AnnouncementSubscriber',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user_id', fields.BigIntField(unique=True)),
                ('subscribed_at', UtcDatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'announcement_subscriber', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Someone who asked, under /announcements, to be told when a 公示 starts and ends (SPEC §6).'},
            bases=['Model'],
        ),
    ]
