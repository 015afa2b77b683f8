"""aiogram routers: thin. They parse input, call storage and the rules, and render the answer."""

from aiogram import Router

from handlers import common, declaration, errors


def build_routers() -> list[Router]:
    # Order matters: commands first (they work in the middle of a form too), then the
    # conversations, then the catch-all.
    return [
        errors.build_router(),
        common.build_router(),
        declaration.build_router(),
        common.build_fallback_router(),
    ]
