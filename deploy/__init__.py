"""Packaging, releases and deployment of LiveInsight (Terraform driven from Python)."""
