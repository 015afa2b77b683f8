"""Every form the bot offers, in menu order. A new act adds its spec here."""

from __future__ import annotations

from bot.forms.annual_filing import ANNUAL_FILING_SPEC
from bot.forms.declaration import DECLARATION_SPEC
from bot.forms.key_project import KEY_PROJECT_SPEC
from bot.forms.deregistration import DEREGISTRATION_SPEC
from bot.forms.extension import EXTENSION_SPEC
from bot.forms.spec import FormSpec

FORM_SPECS: tuple[FormSpec, ...] = (DECLARATION_SPEC, KEY_PROJECT_SPEC, ANNUAL_FILING_SPEC, EXTENSION_SPEC, DEREGISTRATION_SPEC)
