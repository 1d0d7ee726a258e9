# The event lake: the events as Parquet on S3 (written from the Events table's stream, compacted
# hourly), the queue that keeps the coordinates of stream batches the writer gave up on, and Athena
# over the same files (a Glue table with partition projection, a workgroup with a scan limit and an
# encrypted results bucket). Policies and the table's parameters: documents.tf.

data "aws_caller_identity" "this" {}
data "aws_region" "this" {}
data "aws_partition" "this" {}

locals {
  account_id = data.aws_caller_identity.this.account_id
  region     = data.aws_region.this.name
  partition  = data.aws_partition.this.partition
  # Bucket names are global and lower-case: account and region make them unique.
  bucket_name         = "${lower(var.name_prefix)}lake-${local.account_id}-${local.region}"
  results_bucket_name = "${lower(var.name_prefix)}athena-results-${local.account_id}-${local.region}"
  # Glue names are lower-case with underscores: liveinsight_lake in prod.
  database_name = replace(lower("${var.name_prefix}lake"), "-", "_")
}

# --- The lake bucket -----------------------------------------------------------------------------

resource "aws_s3_bucket" "lake" {
  #checkov:skip=CKV_AWS_18:Server access logs would need a third bucket and would log every PUT of the stream writer; CloudTrail data events can be turned on per account when an audit needs them.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new lake objects: the compaction job runs on its schedule and queries list the partitions they read.
  #checkov:skip=CKV_AWS_144:The lake is a copy of the events table (which has point-in-time recovery) and can be rebuilt from it; replication would double the storage bill.
  bucket = local.bucket_name
}

resource "aws_s3_bucket_ownership_controls" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "lake" {
  bucket                  = aws_s3_bucket.lake.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Versioning guards against a faulty compaction or erasure run; noncurrent versions expire after
# noncurrent_version_days, so an erased visitor's rows do not outlive the erasure by more than that.
resource "aws_s3_bucket_versioning" "lake" {
  bucket = aws_s3_bucket.lake.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "lake" {
  bucket = aws_s3_bucket.lake.id
  rule {
    # Without a customer-managed key (kms_key_arn null), S3 uses the AWS managed key aws/s3.
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true # one KMS request per object and minute, not per request
  }
}

resource "aws_s3_bucket_policy" "lake" {
  bucket     = aws_s3_bucket.lake.id
  policy     = local.lake_bucket_policy
  depends_on = [aws_s3_bucket_public_access_block.lake]
}

resource "aws_s3_bucket_lifecycle_configuration" "lake" {
  bucket     = aws_s3_bucket.lake.id
  depends_on = [aws_s3_bucket_versioning.lake]

  rule {
    id     = "events-retention"
    status = "Enabled"
    filter {
      prefix = var.events_prefix
    }
    expiration {
      days = var.event_retention_days
    }
  }

  rule {
    id     = "dead-letter"
    status = "Enabled"
    filter {
      prefix = var.dead_letter_prefix
    }
    expiration {
      days = var.dead_letter_days
    }
  }

  # GET /export's files: a copy of visitors' events, gone the day after (an erasure cannot reach them).
  rule {
    id     = "exports"
    status = "Enabled"
    filter {
      prefix = var.exports_prefix
    }
    expiration {
      days = var.export_days
    }
  }

  rule {
    id     = "old-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
    expiration {
      expired_object_delete_marker = true
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# --- Stream batches the writer gave up on --------------------------------------------------------

# The on-failure destination of the Events stream's mappings (the lake writer's and the statistics
# aggregator's): a message per abandoned batch, with its shard and sequence numbers (not the records)
# and the function that gave up on it (docs/operations.md#lake-stream-failures).
# Encrypted with the customer-managed key if there is one, else SQS's own keys (SSE-SQS).
resource "aws_sqs_queue" "stream_failures" {
  name                      = "${var.name_prefix}EventLake-StreamFailures"
  kms_master_key_id         = var.kms_key_arn
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  message_retention_seconds = 1209600 # 14 days, SQS's longest: time to read and act on each one
}

# --- Athena --------------------------------------------------------------------------------------

resource "aws_s3_bucket" "results" {
  #checkov:skip=CKV_AWS_18:Query results are temporary (results_days) and Athena's own history records every query; access logs would need a third bucket.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to query results.
  #checkov:skip=CKV_AWS_144:Query results expire in days and can be recomputed: replication has nothing to protect.
  bucket = local.results_bucket_name
}

resource "aws_s3_bucket_ownership_controls" "results" {
  bucket = aws_s3_bucket.results.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "results" {
  bucket                  = aws_s3_bucket.results.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "results" {
  bucket = aws_s3_bucket.results.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "results" {
  bucket = aws_s3_bucket.results.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_policy" "results" {
  bucket     = aws_s3_bucket.results.id
  policy     = local.results_bucket_policy
  depends_on = [aws_s3_bucket_public_access_block.results]
}

resource "aws_s3_bucket_lifecycle_configuration" "results" {
  bucket     = aws_s3_bucket.results.id
  depends_on = [aws_s3_bucket_versioning.results]

  rule {
    id     = "results"
    status = "Enabled"
    filter {}
    expiration {
      days = var.results_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_glue_catalog_database" "this" {
  name        = local.database_name
  description = "LiveInsight's event lake (${var.name_prefix}): one table, events, over s3://${local.bucket_name}/${var.events_prefix}"
}

# Columns and partition keys from terraform/lake_schema.json (chalicelib/schema/lake.py): the same
# schema the writer and DuckDB use. Partition projection: Athena computes the partitions from the
# query's site and date (no crawler, no MSCK REPAIR, nothing to keep in sync).
resource "aws_glue_catalog_table" "events" {
  name          = "events"
  database_name = aws_glue_catalog_database.this.name
  description   = "Every accepted event, partitioned by site and UTC date. Queries must name the site."
  table_type    = "EXTERNAL_TABLE"
  parameters    = local.events_table_parameters

  dynamic "partition_keys" {
    for_each = var.schema.partition_keys
    content {
      name    = partition_keys.value.name
      type    = partition_keys.value.type
      comment = partition_keys.value.comment
    }
  }

  storage_descriptor {
    location      = local.events_location
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = var.schema.columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}

# Results under the customer-managed key if there is one (SSE_KMS must name a key), else SSE_S3.
resource "aws_athena_workgroup" "this" {
  name          = "${var.name_prefix}EventLake"
  description   = "LiveInsight's large lake queries: results encrypted, at most bytes_scanned_cutoff_per_query scanned per query"
  state         = "ENABLED"
  force_destroy = false

  configuration {
    enforce_workgroup_configuration    = true # a client cannot lift the scan limit or the encryption
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location       = "s3://${aws_s3_bucket.results.bucket}/${var.results_prefix}"
      expected_bucket_owner = local.account_id

      encryption_configuration {
        encryption_option = var.kms_key_arn == null ? "SSE_S3" : "SSE_KMS"
        kms_key_arn       = var.kms_key_arn
      }
    }
  }
}
