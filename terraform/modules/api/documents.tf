# The stage's access log format and API Gateway's logging role trust policy, as plain locals: the
# offline tests render them with Terraform itself (tests/infrastructure/test_rendered_documents.py).
locals {
  # JSON with a `level`-free shape; the request id joins it to the function's log lines.
  access_log_format = jsonencode({
    requestId          = "$context.requestId"
    time               = "$context.requestTime"
    httpMethod         = "$context.httpMethod"
    resourcePath       = "$context.resourcePath"
    status             = "$context.status"
    responseLength     = "$context.responseLength"
    integrationLatency = "$context.integrationLatency"
    latency            = "$context.responseLatency"
    integrationStatus  = "$context.integration.status"
  })

  apigateway_assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "apigateway.amazonaws.com" }
    }]
  })
}
