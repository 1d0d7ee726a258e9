"""Settings, errors, logs, metrics and deadlines: what every other package uses."""
