output "table_names" {
  description = "Table names by base name (Events, Sessions, Stats)."
  value       = { for base, table in aws_dynamodb_table.this : base => table.name }
}

output "table_arns" {
  description = "Table ARNs by base name."
  value       = { for base, table in aws_dynamodb_table.this : base => table.arn }
}
