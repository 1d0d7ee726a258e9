variable "name_prefix" {
  description = "Prefix of names: LiveInsight- gives the bucket liveinsight-lake-<account>-<region>, the workgroup LiveInsight-EventLake and the database liveinsight_lake."
  type        = string
}

variable "schema" {
  description = "The lake's schema exported by `python -m chalicelib.schema.lake` (terraform/lake_schema.json): columns and partition keys with their Glue types."
  type = object({
    events_prefix  = string
    columns        = list(object({ name = string, type = string, comment = string }))
    partition_keys = list(object({ name = string, type = string, comment = string }))
  })

  validation {
    condition     = [for key in var.schema.partition_keys : key.name] == ["site", "date"]
    error_message = "The lake is partitioned by site, then date (chalicelib/lake/layout.py); the projection below assumes it."
  }
}

variable "kms_key_arn" {
  description = "The customer-managed key of both buckets, the failure queue and Athena's results; null: the AWS managed key aws/s3, SQS's and Athena's own (SSE_S3) encryption."
  type        = string
  default     = null
}

variable "events_prefix" {
  description = "Where the Parquet objects live in the bucket (chalicelib/schema/lake.py EVENTS_PREFIX)."
  type        = string
  default     = "events/"
}

variable "dead_letter_prefix" {
  description = "Where the stream writer puts records it cannot turn into rows (chalicelib/schema/lake.py DEAD_LETTER_PREFIX)."
  type        = string
  default     = "dead-letter/"
}

variable "exports_prefix" {
  description = "Where GET /export puts the files it links to (chalicelib/query/export.py EXPORTS_PREFIX)."
  type        = string
  default     = "exports/"
}

variable "export_days" {
  description = "Days an export file is kept: its link lives 15 minutes, so a day is ample."
  type        = number
  default     = 1

  validation {
    condition     = var.export_days >= 1 && var.export_days <= 7
    error_message = "export_days must be 1 to 7: an export is a copy of visitors' events and must not linger."
  }
}

variable "event_retention_days" {
  description = "Days a lake object is kept: the events table's retention (LIVEINSIGHT_EVENT_RETENTION_DAYS)."
  type        = number
  default     = 400

  validation {
    condition     = var.event_retention_days >= 1
    error_message = "event_retention_days must be at least 1."
  }
}

variable "dead_letter_days" {
  description = "Days a dead-lettered record is kept: long enough to read, fix and replay it."
  type        = number
  default     = 30

  validation {
    condition     = var.dead_letter_days >= 1
    error_message = "dead_letter_days must be at least 1."
  }
}

variable "noncurrent_version_days" {
  description = "Days a replaced or deleted object version is kept (compaction and erasure replace objects): after this an erased visitor's rows are gone from S3 too."
  type        = number
  default     = 1

  validation {
    condition     = var.noncurrent_version_days >= 1 && var.noncurrent_version_days <= 30
    error_message = "noncurrent_version_days must be 1 to 30: erasure must finish within days."
  }
}

variable "date_range_start" {
  description = "First day partition projection considers (yyyy-MM-dd); no event is older than the lake."
  type        = string
  default     = "2024-01-01"

  validation {
    condition     = can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", var.date_range_start))
    error_message = "date_range_start must be a date written yyyy-MM-dd."
  }
}

variable "bytes_scanned_cutoff_per_query" {
  description = "Athena cancels a query of the workgroup that scans more than this many bytes (at $5 per TB, 10 GiB costs about 5 cents)."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.bytes_scanned_cutoff_per_query >= 10485760
    error_message = "Athena's smallest per-query limit is 10 MB (10485760 bytes)."
  }
}

variable "results_prefix" {
  description = "Where in the results bucket Athena writes query results."
  type        = string
  default     = "results/"
}

variable "results_days" {
  description = "Days Athena's query results are kept."
  type        = number
  default     = 7

  validation {
    condition     = var.results_days >= 1
    error_message = "results_days must be at least 1."
  }
}
