"""Persistence: tortoise models, queries, migrations and the database-backed FSM storage.

Nothing here imports aiogram except `storage.fsm`, which implements aiogram's storage interface
on top of the models (it is the adapter, not a handler).
"""
