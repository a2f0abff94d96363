"""Driver KB: a question-and-answer knowledge base for Windows driver developers."""

from __future__ import annotations

__version__ = "0.1.0"
