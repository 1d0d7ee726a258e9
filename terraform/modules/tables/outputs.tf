output "table_names" {
  description = "Table names by base name (Events, Sessions, Stats, Access)."
  value       = { for base, table in aws_dynamodb_table.this : base => table.name }
}

output "table_arns" {
  description = "Table ARNs by base name."
  value       = { for base, table in aws_dynamodb_table.this : base => table.arn }
}

output "stream_arns" {
  description = "Stream ARNs of the tables that stream (Events: the event lake's source), by base name."
  value       = { for base, table in aws_dynamodb_table.this : base => table.stream_arn if var.tables[base].stream_view_type != null }
}
