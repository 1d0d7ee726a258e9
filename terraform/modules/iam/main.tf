# The functions' role, with the operations guide's names in prod: LiveInsight-Lambda-Role with
# AWSLambdaBasicExecutionRole, LiveInsight-DynamoDB-Policy and LiveInsight-CloudWatch-Policy.
# Chalice is told not to manage a role (.chalice/config.json: manage_iam_role false), because its
# generated policy misses the DynamoDB calls made from chalicelib/. The documents: documents.tf.

data "aws_partition" "this" {}

resource "aws_iam_role" "lambda" {
  name               = "${var.name_prefix}Lambda-Role"
  description        = "LiveInsight functions: event collector, session expiry, statistics rollup"
  assume_role_policy = local.assume_role_policy
}

resource "aws_iam_role_policy_attachment" "basic_execution" {
  role       = aws_iam_role.lambda.name
  policy_arn = "arn:${data.aws_partition.this.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_policy" "dynamodb" {
  name        = "${var.name_prefix}DynamoDB-Policy"
  description = "LiveInsight functions: read and write LiveInsight's tables and indexes"
  policy      = local.dynamodb_policy
}

resource "aws_iam_role_policy_attachment" "dynamodb" {
  role       = aws_iam_role.lambda.name
  policy_arn = aws_iam_policy.dynamodb.arn
}

resource "aws_iam_policy" "cloudwatch" {
  name        = "${var.name_prefix}CloudWatch-Policy"
  description = "LiveInsight functions: write logs and EMF metrics (namespace ${var.metrics_namespace}) to their own log groups"
  policy      = local.cloudwatch_policy
}

resource "aws_iam_role_policy_attachment" "cloudwatch" {
  role       = aws_iam_role.lambda.name
  policy_arn = aws_iam_policy.cloudwatch.arn
}
