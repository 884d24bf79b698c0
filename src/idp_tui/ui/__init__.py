"""The Textual user interface (imported only when the dashboard runs)."""
