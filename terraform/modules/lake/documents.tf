# The lake's documents, as plain locals: the offline tests render them with Terraform itself
# (tests/infrastructure/test_rendered_documents.py) and check IAM's grammar and Athena's
# partition projection.
locals {
  lake_bucket_arn    = "arn:${local.partition}:s3:::${local.bucket_name}"
  results_bucket_arn = "arn:${local.partition}:s3:::${local.results_bucket_name}"
  events_location    = "s3://${local.bucket_name}/${var.events_prefix}"

  # Nothing reaches either bucket but over TLS.
  lake_bucket_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TlsOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [local.lake_bucket_arn, "${local.lake_bucket_arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  results_bucket_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "TlsOnly"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [local.results_bucket_arn, "${local.results_bucket_arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })

  # Partition projection (Athena User Guide, "Partition projection with Amazon Athena"): site is
  # injected (every query names its site), date is a day from date_range_start to today.
  partition_names = [for key in var.schema.partition_keys : key.name]
  events_table_parameters = {
    "EXTERNAL"                      = "TRUE"
    "classification"                = "parquet"
    "parquet.compression"           = "ZSTD"
    "projection.enabled"            = "true"
    "projection.site.type"          = "injected"
    "projection.date.type"          = "date"
    "projection.date.format"        = "yyyy-MM-dd"
    "projection.date.range"         = "${var.date_range_start},NOW"
    "projection.date.interval"      = "1"
    "projection.date.interval.unit" = "DAYS"
    # events/site=<site>/date=<date>/ (chalicelib/lake/layout.py); Athena fills in ${site} and ${date}.
    "storage.location.template" = "${local.events_location}${join("/", [for name in local.partition_names : "${name}=$${${name}}"])}/"
  }
}
