"""Drivers built into the core distribution, registered through the plugin hooks."""
