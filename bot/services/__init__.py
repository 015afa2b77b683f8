"""Use-cases without Telegram: rules + storage. A handler, the terminal chat, an import or another
chat channel calls these and renders what they return."""
