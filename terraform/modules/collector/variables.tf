variable "name_prefix" {
  description = "Prefix of names (LiveInsight- in prod: the API is LiveInsight-Collector)."
  type        = string
}

variable "stage_name" {
  description = "Stage name; prod gives the guide's https://<api-id>.execute-api.<region>.amazonaws.com/prod/events."
  type        = string
}

variable "route_keys" {
  description = "The routes websites call (\"POST /events\", ...): the app's own, listed by make package."
  type        = list(string)

  validation {
    condition     = length(var.route_keys) > 0 && alltrue([for key in var.route_keys : can(regex("^(GET|POST|OPTIONS) /[A-Za-z0-9/._-]*$", key))])
    error_message = "route_keys must be \"METHOD /path\" keys of static paths (payload 1.0 gives Chalice the path as resourcePath)."
  }
}

variable "function_name" {
  description = "The event collector function (LiveInsight-EventCollector in prod)."
  type        = string
}

variable "function_invoke_arn" {
  description = "Its invoke ARN."
  type        = string
}

variable "integration_timeout_ms" {
  description = "How long the API waits for the function (an HTTP API allows at most 30,000 ms)."
  type        = number
  default     = 29000

  validation {
    condition     = var.integration_timeout_ms >= 50 && var.integration_timeout_ms <= 30000
    error_message = "integration_timeout_ms must be between 50 and 30000."
  }
}

variable "throttle_rate_limit" {
  description = "Steady-state requests per second for every route of the stage."
  type        = number
  default     = 1000

  validation {
    condition     = var.throttle_rate_limit > 0
    error_message = "throttle_rate_limit must be positive."
  }
}

variable "throttle_burst_limit" {
  description = "Burst of requests for every route of the stage."
  type        = number
  default     = 2000

  validation {
    condition     = var.throttle_burst_limit > 0
    error_message = "throttle_burst_limit must be positive."
  }
}

variable "log_retention_days" {
  description = "Retention of the access log group."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "The customer-managed key encrypting the access logs; null: CloudWatch Logs' own encryption."
  type        = string
  default     = null
}
