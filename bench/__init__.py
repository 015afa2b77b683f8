"""`python -m bench` (`make bench`): how fast and how big the bot is, measured in-process.

Four parts, each in its own module:

* `bench.throughput`  - updates/s, p50/p99 per update: a bare aiogram echo bot against one step of
  the establishment declaration through the full Dispatcher, on the database FSM storage (SQLite,
  PostgreSQL) and on RedisStorage; echo and variant are interleaved in rounds so that machine noise
  hits both alike. `--profile` runs pyinstrument over the slowest variant's step.
* `bench.declaration` - one whole declaration (/declare ... 提交): wall time and SQL statements,
  with an empty database and with 10,000 existing units.
* `bench.memory`      - RSS of an idle bot and with 1,000 drafts in progress (a child process).

Results are printed as tables and written to bench/results.json.
"""
