# The REST API's stage. Chalice's generated deployment names a stage but cannot throttle it or log
# access to it; `make package` takes the stage off the deployment, and this module owns it.
# CORS is the app's own (it reflects each site's allowed origins), so nothing here adds headers.

resource "aws_cloudwatch_log_group" "access" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days, as the operations guide keeps logs); a year of visitors' request logs would be kept without a use.
  name              = "/aws/apigateway/${var.name_prefix}API-Access"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_api_gateway_stage" "this" {
  #checkov:skip=CKV_AWS_73:X-Ray is the xray_tracing variable, off by default: it is billed per trace and the functions' EMF metrics and logs cover operations.
  #checkov:skip=CKV_AWS_120:No cache: every answer is per request (event ingestion, live statistics); a cache would serve stale numbers and is billed by the hour.
  #checkov:skip=CKV2_AWS_29:No WAF by default: it is billed monthly and per request, and the stage throttling and the app's validation (64 KiB bodies, per-site origins) bound abuse. Put a WAF in front if your site needs one.
  #checkov:skip=CKV2_AWS_51:Browsers post events to this public endpoint; client certificates cannot apply.
  rest_api_id          = var.rest_api_id
  deployment_id        = var.deployment_id
  stage_name           = var.stage_name
  xray_tracing_enabled = var.xray_tracing

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.access.arn
    format          = local.access_log_format
  }

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_gateway_response" "cors" {
  for_each            = local.gateway_responses
  rest_api_id         = var.rest_api_id
  response_type       = each.key
  response_parameters = each.value
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:No cache, for the reason given on the stage: answers are per request and live.
  rest_api_id = var.rest_api_id
  stage_name  = aws_api_gateway_stage.this.stage_name
  method_path = "*/*"

  settings {
    throttling_rate_limit  = var.throttle_rate_limit
    throttling_burst_limit = var.throttle_burst_limit
    metrics_enabled        = true
    logging_level          = "ERROR"
    data_trace_enabled     = false # never log request bodies: they are visitors' events
    caching_enabled        = false
  }
}

# API Gateway writes execution and access logs through one account-wide role per region.
resource "aws_iam_role" "cloudwatch" {
  count              = var.manage_api_gateway_account ? 1 : 0
  name               = "${var.name_prefix}APIGateway-CloudWatch-Role"
  assume_role_policy = local.apigateway_assume_role_policy
}

data "aws_partition" "this" {}

resource "aws_iam_role_policy_attachment" "cloudwatch" {
  count      = var.manage_api_gateway_account ? 1 : 0
  role       = aws_iam_role.cloudwatch[0].name
  policy_arn = "arn:${data.aws_partition.this.partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
}

resource "aws_api_gateway_account" "this" {
  count               = var.manage_api_gateway_account ? 1 : 0
  cloudwatch_role_arn = aws_iam_role.cloudwatch[0].arn
}
