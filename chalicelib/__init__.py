"""LiveInsight: self-hosted, serverless, real-time website analytics."""

__version__ = "0.1.0"
