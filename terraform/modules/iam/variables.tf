variable "name_prefix" {
  description = "Prefix of names: LiveInsight- gives LiveInsight-Lambda-Role and LiveInsight-DynamoDB-Policy."
  type        = string
}

variable "table_arns" {
  description = "ARNs of the tables the functions use, by base name."
  type        = map(string)
}

variable "kms_key_arn" {
  description = "The key encrypting the tables and the functions' environment."
  type        = string
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
