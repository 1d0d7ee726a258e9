variable "name_prefix" {
  description = "Prefix of names: LiveInsight- gives LiveInsight-Lambda-Role and LiveInsight-DynamoDB-Policy."
  type        = string
}

variable "table_arns" {
  description = "ARNs of the tables the functions use, by base name."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "The customer-managed key of tables, logs, lake and environment, which the functions may use; null: AWS managed keys, which need no grant."
  type        = string
  default     = null
}

variable "log_group_arns" {
  description = "ARNs of the functions' log groups."
  type        = list(string)
}

variable "metrics_namespace" {
  description = "Namespace of the EMF metrics the functions write (for the policy's description)."
  type        = string
  default     = "LiveInsight"
}

variable "function_names" {
  description = "Function names by key (terraform/main.tf local.function_names): each lake role and the statistics aggregator's may write only its own function's log group, and the API may invoke only lake_query."
  type        = map(string)

  validation {
    condition     = alltrue([for key in ["stats_aggregator", "lake_writer", "lake_compaction", "lake_query", "lake_erasure"] : contains(keys(var.function_names), key)])
    error_message = "function_names must name stats_aggregator, lake_writer, lake_compaction, lake_query and lake_erasure."
  }
}

variable "lake" {
  description = "The event lake's resources the lake roles are scoped to (the lake module's outputs and the Events stream, which the statistics aggregator reads too)."
  type = object({
    bucket_arn                = string
    events_prefix             = string
    dead_letter_prefix        = string
    exports_prefix            = optional(string, "exports/")
    results_bucket_arn        = string
    athena_workgroup_arn      = string
    database_name             = string
    events_stream_arn         = string
    stream_failures_queue_arn = string
  })
}
