variable "name_prefix" {
  description = "Prefix of names."
  type        = string
}

variable "rest_api_id" {
  description = "The REST API Chalice generates."
  type        = string
}

variable "deployment_id" {
  description = "The deployment Chalice generates (redeployed when the API changes)."
  type        = string
}

variable "stage_name" {
  description = "Stage name; prod gives the guide's https://<api-id>.execute-api.<region>.amazonaws.com/prod/events."
  type        = string
}

variable "throttle_rate_limit" {
  description = "Steady-state requests per second for the whole stage."
  type        = number
  default     = 1000

  validation {
    condition     = var.throttle_rate_limit > 0
    error_message = "throttle_rate_limit must be positive."
  }
}

variable "throttle_burst_limit" {
  description = "Burst of requests for the whole stage."
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

variable "xray_tracing" {
  description = "Trace requests with X-Ray (billed per trace)."
  type        = bool
  default     = false
}

variable "manage_api_gateway_account" {
  description = "Create the account-wide API Gateway CloudWatch role; off when another stack owns it."
  type        = bool
  default     = true
}
