# The operators' dashboard; its body is built in documents.tf.
resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.dashboard
  dashboard_body = local.dashboard_body
}
