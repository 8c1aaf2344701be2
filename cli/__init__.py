"""Olive Lab: a terminal wizard for the Olive lab (check, data, quantize, fine-tune, optimize, chat, upload)."""

__version__ = "0.1.0"
