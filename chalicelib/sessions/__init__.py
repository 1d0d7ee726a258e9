"""Visits: the session model, the planner and runner of session writes, idle expiry."""
