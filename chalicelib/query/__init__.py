"""Queries of the event lake: one description (description.py), one SQL builder for DuckDB and Athena
(builder.py), and the runner that picks the engine and answers (runner.py)."""
