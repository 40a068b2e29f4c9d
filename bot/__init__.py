"""Veille: news monitoring of AI and digital-innovation initiatives in the French regions."""

__version__ = "0.1.0"
