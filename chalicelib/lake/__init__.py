"""The event lake: raw events as Parquet on S3, partitioned by site and UTC date (docs/lake.md).

layout: object names and the objects a query reads; ports: what the lake needs from storage;
rows: stored events to typed rows; writer: the DynamoDB stream to Parquet; compaction: small
objects of a partition merged into one; erasure: a visitor's rows removed from every object.
"""
