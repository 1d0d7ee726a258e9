# The collector: an HTTP API (payload format 1.0) in front of the event collector for what websites'
# browsers call, the SDK's file and every ingest route. An HTTP API costs $1.00 per million requests
# where the REST API costs $3.50 (docs/performance.md), and payload 1.0 hands Chalice's handler the
# REST API's event shape (tests/unit/test_http_api_events.py, deploy/verify/lambda_check.py).
# The dashboard and the Stats API stay on the REST API: few requests, and its gateway responses.
# No cors_configuration: OPTIONS goes to the app, which reflects each site's allowed origins.

resource "aws_apigatewayv2_api" "this" {
  name          = "${var.name_prefix}Collector"
  protocol_type = "HTTP"
  description   = "Where websites send events: ${join(", ", var.route_keys)}"
}

resource "aws_apigatewayv2_integration" "collector" {
  api_id                 = aws_apigatewayv2_api.this.id
  integration_type       = "AWS_PROXY"
  integration_uri        = var.function_invoke_arn
  payload_format_version = "1.0"
  timeout_milliseconds   = var.integration_timeout_ms
}

resource "aws_apigatewayv2_route" "collector" {
  #checkov:skip=CKV_AWS_309:Browsers post events to these public routes, as to the REST API's /events; the app validates every request and the stage is throttled.
  for_each  = toset(var.route_keys)
  api_id    = aws_apigatewayv2_api.this.id
  route_key = each.value
  target    = "integrations/${aws_apigatewayv2_integration.collector.id}"
}

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days, as the operations guide keeps logs); a year of visitors' request logs would be kept without a use.
  name              = "/aws/apigateway/${var.name_prefix}Collector-Access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_apigatewayv2_stage" "this" {
  api_id      = aws_apigatewayv2_api.this.id
  name        = var.stage_name
  auto_deploy = true # a route change is live at once, as the REST API's redeployment makes it

  default_route_settings {
    throttling_rate_limit    = var.throttle_rate_limit
    throttling_burst_limit   = var.throttle_burst_limit
    detailed_metrics_enabled = false # per-route metrics are billed as custom metrics; the stage's are free
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = local.access_log_format
  }
}

resource "aws_lambda_permission" "collector" {
  statement_id  = "AllowCollectorApi"
  action        = "lambda:InvokeFunction"
  function_name = var.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.this.execution_arn}/${var.stage_name}/*"
}
