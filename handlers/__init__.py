"""aiogram routers: thin. They parse input, call the services, and render the answer."""

from aiogram import Router

from bot.commands import STAFF_ONLY_COMMANDS
from bot.forms.spec import FormSpec
from handlers import announcements, common, contacts, errors, forms, private_only, stamped_form, staff


def build_routers(specs: tuple[FormSpec, ...]) -> list[Router]:
    # Order matters: updates from groups and channels stopped first; then the staff branch (its
    # root filter lets only staff in; what it does not take goes on, and staff commands and
    # buttons from anyone else are refused right after), then
    # commands (they work in the middle of a form too), then the upload of a stamped form once
    # asked for (it takes the next file even with a form open), then the conversations, then the
    # catch-all.
    return [
        errors.build_router(),
        private_only.build_router(),  # groups and channels: no conversation there
        staff.build_router(*staff.staff_children()),
        staff.build_refusal_router(STAFF_ONLY_COMMANDS),
        announcements.build_router(),  # public; before the commands: its /cancel ends an objection
        contacts.build_router(),  # /invite, /join, /leave; before the commands: its /cancel ends the join step
        common.build_router(specs),
        stamped_form.build_router(),
        forms.build_router(specs),
        common.build_fallback_router(),
    ]
