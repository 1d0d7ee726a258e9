variable "name_prefix" {
  description = "Prefix of table names: LiveInsight- gives LiveInsight-Events in prod."
  type        = string
}

variable "tables" {
  description = "The table definitions exported by `python -m chalicelib.tables` (terraform/tables.json)."
  type = map(object({
    base_name     = string
    hash_key      = string
    range_key     = optional(string)
    attributes    = map(string)
    ttl_attribute = optional(string)
    # NEW_IMAGE, ...: the table's stream; null: no stream.
    stream_view_type = optional(string)
    indexes = list(object({
      name       = string
      hash_key   = string
      range_key  = optional(string)
      projection = string
    }))
  }))
}

variable "billing_mode" {
  description = "PAY_PER_REQUEST (on demand) or PROVISIONED (auto scaled within provisioned_capacity)."
  type        = string
  default     = "PAY_PER_REQUEST"

  validation {
    condition     = contains(["PAY_PER_REQUEST", "PROVISIONED"], var.billing_mode)
    error_message = "billing_mode must be PAY_PER_REQUEST or PROVISIONED."
  }
}

variable "provisioned_capacity" {
  description = "With PROVISIONED billing: the auto-scaling range of read and write capacity units."
  type = object({
    read_min  = number
    read_max  = number
    write_min = number
    write_max = number
  })
  default = { read_min = 10, read_max = 200, write_min = 10, write_max = 200 }

  validation {
    condition     = var.provisioned_capacity.read_min <= var.provisioned_capacity.read_max && var.provisioned_capacity.write_min <= var.provisioned_capacity.write_max
    error_message = "Each minimum must not exceed its maximum."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the tables (on for prod)."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "The customer-managed key for server-side encryption; null: the AWS managed key alias/aws/dynamodb."
  type        = string
  default     = null
}
