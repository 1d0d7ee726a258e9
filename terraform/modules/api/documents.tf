# The stage's access log format, API Gateway's logging role trust policy and its own error answers,
# as plain locals: the offline tests render them with Terraform itself
# (tests/infrastructure/test_rendered_documents.py).
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

  # API Gateway's own answers (429 when throttled, 403 for an unknown path, 502/504 when the
  # function fails) echo the page's Origin like the app's errors do, so a browser shows their
  # status instead of "blocked by CORS policy". They grant nothing: no write depends on them.
  gateway_responses = {
    for type in ["DEFAULT_4XX", "DEFAULT_5XX"] : type => {
      "gatewayresponse.header.Access-Control-Allow-Origin" = "method.request.header.origin"
      "gatewayresponse.header.Vary"                        = "'Origin'"
    }
  }
}
