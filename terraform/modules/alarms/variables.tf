variable "name_prefix" {
  description = "Prefix of alarm names: LiveInsight- gives LiveInsight-Lambda-ErrorRate."
  type        = string
}

variable "function_names" {
  description = "Function names: api (LiveInsight-EventCollector in prod), expiry, rollup, stats_aggregator, and the lake's lake_writer, lake_compaction, lake_query, lake_erasure."
  type = object({
    api              = string
    expiry           = string
    rollup           = string
    stats_aggregator = string
    lake_writer      = string
    lake_compaction  = string
    lake_query       = string
    lake_erasure     = string
  })
}

variable "api_name" {
  description = "The REST API's name (ApiName dimension)."
  type        = string
}

variable "collector_api_id" {
  description = "The collector's HTTP API id (ApiId dimension)."
  type        = string
}

variable "api_stage" {
  description = "The API stage (Stage dimension)."
  type        = string
}

variable "metrics_environment" {
  description = "The Environment dimension of LiveInsight's own metrics (Production for prod)."
  type        = string
}

variable "processing_errors_threshold" {
  description = "ProcessingErrors in 5 minutes that raise the alarm."
  type        = number
  default     = 1

  validation {
    condition     = var.processing_errors_threshold >= 1
    error_message = "The threshold must be at least 1."
  }
}

variable "alarm_emails" {
  description = "E-mail addresses to subscribe to the alarm topic."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for email in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", email))])
    error_message = "Every alarm e-mail must be an e-mail address."
  }
}

variable "expect_traffic" {
  description = "Add the NoEventsProcessed alarm (15 minutes without a stored event)."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "The customer-managed key encrypting the SNS topic; null (the default): the topic is not encrypted (alarm messages hold no visitor data)."
  type        = string
  default     = null
}

variable "lake_failures_queue_name" {
  description = "The event lake's stream-failures queue (on-failure destination of the lake writer's and the statistics aggregator's event source mappings)."
  type        = string
}
