"""Command families, one module each (the announcements' in a folder of their own); :mod:`bot.commands.families`
gathers them.

This file imports nothing: a family that imports another would otherwise depend on every family.
"""
