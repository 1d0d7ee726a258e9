output "log_group_names" {
  description = "Log group names by function name."
  value       = { for name, group in aws_cloudwatch_log_group.function : name => group.name }
}

output "log_group_arns" {
  description = "Log group ARNs."
  value       = [for group in aws_cloudwatch_log_group.function : group.arn]
}
