"""The config the `tortoise` command line reads (`[tool.tortoise]` in pyproject.toml).

`make migrations` runs `tortoise makemigrations` with it; the database URL only matters for
commands that touch a database (`tortoise migrate`, `tortoise history`).
"""

import os

from storage.db import tortoise_config

TORTOISE_ORM = tortoise_config(os.environ.get("DATABASE_URL", "sqlite://data/bot.sqlite3"))
