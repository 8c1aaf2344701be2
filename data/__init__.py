"""Sample data shipped with Olive Lab (the travel Q&A set)."""
