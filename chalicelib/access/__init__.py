"""Who may read what: the operator token."""
