output "invoke_url" {
  description = "Base URL of the stage, e.g. https://<api-id>.execute-api.us-east-1.amazonaws.com/prod."
  value       = aws_apigatewayv2_stage.this.invoke_url
}

output "api_id" {
  description = "The HTTP API's id (ApiId dimension of its metrics)."
  value       = aws_apigatewayv2_api.this.id
}

output "access_log_group_name" {
  description = "The access log group."
  value       = aws_cloudwatch_log_group.access.name
}
