output "lambda_role_arn" {
  description = "ARN of the functions' role (.chalice/config.json's iam_role_arn points here)."
  value       = aws_iam_role.lambda.arn
}

output "lambda_role_name" {
  description = "Name of the functions' role."
  value       = aws_iam_role.lambda.name
}

output "policy_names" {
  description = "Names of the custom policies."
  value       = concat([aws_iam_policy.dynamodb.name, aws_iam_policy.cloudwatch.name, aws_iam_policy.invoke_lake.name, aws_iam_policy.stats_aggregator.name], [for policy in aws_iam_policy.lake : policy.name])
}

output "lake_role_arns" {
  description = "ARNs of the lake functions' roles by function key (lake_writer, lake_compaction, lake_query, lake_erasure): .chalice/config.json's per-function iam_role_arn."
  value       = { for key, role in aws_iam_role.lake : key => role.arn }
}

output "stats_aggregator_role_arn" {
  description = "ARN of the statistics aggregator's role (.chalice/config.json's iam_role_arn of aggregate_events)."
  value       = aws_iam_role.stats_aggregator.arn
}
