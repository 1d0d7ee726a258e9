variable "name_prefix" {
  description = "Prefix of resource names (LiveInsight- for prod)."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Days a deleted key can still be restored."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "The deletion window must be 7 to 30 days."
  }
}
