# One log group per function, created before the functions so Lambda never makes its own
# (which would keep logs forever). In prod the API's is /aws/lambda/LiveInsight-EventCollector.
resource "aws_cloudwatch_log_group" "function" {
  #checkov:skip=CKV_AWS_338:Retention is a variable (default 30 days, as the operations guide keeps logs); raise log_retention_days if you need a year.
  for_each = toset(var.function_names)

  name              = "/aws/lambda/${each.value}"
  retention_in_days = var.retention_days
  kms_key_id        = var.kms_key_arn
}
