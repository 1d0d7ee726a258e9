# The collector's access log format, as a plain local: the offline tests render it with Terraform
# itself (tests/infrastructure/test_rendered_documents.py). HTTP APIs have $context.routeKey where
# the REST API has resourcePath; the request id joins a line to the function's log lines.
locals {
  access_log_format = jsonencode({
    requestId          = "$context.requestId"
    time               = "$context.requestTime"
    httpMethod         = "$context.httpMethod"
    routeKey           = "$context.routeKey"
    status             = "$context.status"
    responseLength     = "$context.responseLength"
    integrationLatency = "$context.integrationLatency"
    latency            = "$context.responseLatency"
    integrationStatus  = "$context.integrationStatus"
    integrationError   = "$context.integrationErrorMessage"
  })
}
