variable "name_prefix" {
  description = "Prefix of the dashboard name: LiveInsight- gives LiveInsight-Operations."
  type        = string
}

variable "region" {
  description = "Region of the metrics."
  type        = string
}

variable "function_names" {
  description = "Function names: api, expiry, rollup, stats_aggregator, lake_writer, lake_compaction, lake_query, lake_erasure."
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

variable "table_names" {
  description = "The tables, by base name."
  type        = map(string)
}

variable "collector_api_id" {
  description = "The collector's HTTP API id (ApiId dimension)."
  type        = string
}

variable "api_name" {
  description = "The REST API's name."
  type        = string
}

variable "api_stage" {
  description = "The API stage."
  type        = string
}

variable "metrics_environment" {
  description = "Environment dimension of LiveInsight's metrics (Production for prod)."
  type        = string
}
