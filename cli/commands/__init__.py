"""Headless subcommands of olive-lab, one module each (add_parser + run)."""
