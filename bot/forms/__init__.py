"""Form definitions (data) and the engine that walks them: no aiogram, no ORM."""
