"""The Textual wizard: presents the steps of olive_lab.steps; never re-implements them."""
