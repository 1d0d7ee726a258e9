variable "function_names" {
  description = "Names of the Lambda functions."
  type        = list(string)
}

variable "retention_days" {
  description = "Days to keep log events."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.retention_days)
    error_message = "retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "kms_key_arn" {
  description = "The customer-managed key encrypting the log groups; null: CloudWatch Logs' own encryption."
  type        = string
  default     = null
}
