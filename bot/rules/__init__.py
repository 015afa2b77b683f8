"""The policy rules and input validation: pure functions, no aiogram, no ORM."""
