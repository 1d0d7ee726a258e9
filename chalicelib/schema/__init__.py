"""The one definition of each stored shape: DynamoDB tables (and the lake's columns)."""
