"""aiogram routers: thin. They parse input, call the services, and render the answer."""

from aiogram import Router

from bot.forms.spec import FormSpec
from handlers import common, errors, forms, stamped_form


def build_routers(specs: tuple[FormSpec, ...]) -> list[Router]:
    # Order matters: commands first (they work in the middle of a form too), then the upload of
    # a stamped form once asked for (it takes the next file even with a form open), then the
    # conversations, then the catch-all.
    return [
        errors.build_router(),
        common.build_router(specs),
        stamped_form.build_router(),
        forms.build_router(specs),
        common.build_fallback_router(),
    ]
