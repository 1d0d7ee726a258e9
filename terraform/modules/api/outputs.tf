output "invoke_url" {
  description = "Base URL of the stage, e.g. https://<api-id>.execute-api.us-east-1.amazonaws.com/prod."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "access_log_group_name" {
  description = "The access log group."
  value       = aws_cloudwatch_log_group.access.name
}

output "gateway_responses_hash" {
  description = "Changes when API Gateway's own answers do: a trigger of the deployment, which must come after them (they take effect only when deployed)."
  value       = md5(jsonencode({ for type, response in aws_api_gateway_gateway_response.cors : type => response.response_parameters }))
}
