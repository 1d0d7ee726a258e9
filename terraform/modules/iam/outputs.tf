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
  value       = [aws_iam_policy.dynamodb.name, aws_iam_policy.cloudwatch.name]
}
