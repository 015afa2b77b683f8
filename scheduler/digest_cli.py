"""`python -m scheduler digest [--weekly] [--at ISO] --print [--output DIR] [--lang zh|en]`.

Prints the digest staff would get as of that moment (default: now), built from the database as
the sender builds it; the weekly one also writes its .xlsx (personal data masked) and prints its
path. Writes nothing to the database and needs no BOT_TOKEN.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
from datetime import UTC, datetime
from pathlib import Path

from bot.i18n import t
from bot.services import digest as digests
from bot.settings import get_settings
from storage import db


async def run(at: datetime, weekly: bool, output: Path, lang: str) -> int:
    settings = get_settings()
    await db.init_db(settings.database_url, auto_migrate=settings.auto_migrate)
    try:
        built = await digests.build_digest(settings, at, weekly=weekly)
        print(html.unescape(re.sub(r"</?b>", "", digests.render_text(built, lang))))
        if weekly:
            name, content = await digests.workbook(built, settings)
            output.mkdir(parents=True, exist_ok=True)
            path = output / name
            path.write_bytes(content)
            print(t(lang, "digest.printed", path=path))
    finally:
        await db.close_db()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m scheduler digest", description=__doc__.split("\n")[0])
    parser.add_argument("--weekly", action="store_true", help="the weekly digest, with its .xlsx")
    parser.add_argument("--at", type=datetime.fromisoformat, help="as of this moment (default now; no offset: local time)")
    parser.add_argument("--print", action="store_true", required=True, help="print the digest (it is not sent)")
    parser.add_argument("--output", type=Path, default=Path("data/digests"), help="where the weekly .xlsx goes")
    parser.add_argument("--lang", choices=("zh", "en"), default=None, help="language (default DEFAULT_LANGUAGE)")
    args = parser.parse_args(argv)
    settings = get_settings()
    at = args.at or datetime.now(UTC)
    if at.tzinfo is None:
        at = at.replace(tzinfo=settings.tz)
    return asyncio.run(run(at, args.weekly, args.output, args.lang or settings.default_language))
