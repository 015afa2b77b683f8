"""Shenzhen technician workstation bot: the application package."""
