from tortoise import migrations
from tortoise.migrations import operations as ops
from storage.models import UtcDatetimeField
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0003_announcement_subscriber')]

    initial = False

    operations = [
        ops.CreateModel(
            name='UpdateClaim',
            fields=[
                ('update_id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('claimed_at', UtcDatetimeField(auto_now=False, auto_now_add=False)),
                ('lease_until', UtcDatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'update_claim', 'app': 'models', 'indexes': [Index(fields=['claimed_at'])], 'pk_attr': 'update_id', 'table_description': 'A Telegram update in hand or handled, so that a second delivery is not handled again.'},
            bases=['Model'],
        ),
    ]
