"""Benchmarks (`make bench`). moto stands in for DynamoDB; its transactions are made to cost what
they cost DynamoDB, independent of the table's size (scripts/moto_transactions.py)."""

from scripts.moto_transactions import install

install()
