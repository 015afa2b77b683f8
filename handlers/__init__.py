"""aiogram routers: thin. They parse input, call storage and the rules, and render the answer."""

from aiogram import Router

from handlers import common, declaration, errors


def build_routers() -> list[Router]:
    # Order matters: feature routers before the catch-all of `common`.
    return [errors.build_router(), declaration.build_router(), common.build_router()]
