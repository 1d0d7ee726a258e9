output "invoke_url" {
  description = "Base URL of the stage, e.g. https://<api-id>.execute-api.us-east-1.amazonaws.com/prod."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "access_log_group_name" {
  description = "The access log group."
  value       = aws_cloudwatch_log_group.access.name
}
