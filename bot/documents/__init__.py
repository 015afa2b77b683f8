"""Printable documents (.docx) generated from a unit's answers in the bot."""
