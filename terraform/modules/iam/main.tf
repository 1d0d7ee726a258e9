# The functions' role, with the operations guide's names in prod: LiveInsight-Lambda-Role with
# AWSLambdaBasicExecutionRole, LiveInsight-DynamoDB-Policy and LiveInsight-CloudWatch-Policy.
# Chalice is told not to manage a role (.chalice/config.json: manage_iam_role false), because its
# generated policy misses the DynamoDB calls made from chalicelib/.

data "aws_partition" "this" {}

resource "aws_iam_role" "lambda" {
  name               = "${var.name_prefix}Lambda-Role"
  description        = "LiveInsight functions: event collector, session expiry, statistics rollup"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy_attachment" "basic_execution" {
  role       = aws_iam_role.lambda.name
  policy_arn = "arn:${data.aws_partition.this.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

# Exactly the calls chalicelib/store makes, on LiveInsight's tables and their indexes only.
data "aws_iam_policy_document" "dynamodb" {
  statement {
    sid = "LiveInsightTables"
    actions = [
      "dynamodb:BatchGetItem",
      "dynamodb:BatchWriteItem",
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = concat(values(var.table_arns), [for arn in values(var.table_arns) : "${arn}/index/*"])
  }

  statement {
    sid       = "TableEncryptionKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_policy" "dynamodb" {
  name        = "${var.name_prefix}DynamoDB-Policy"
  description = "LiveInsight functions: read and write LiveInsight's tables and indexes"
  policy      = data.aws_iam_policy_document.dynamodb.json
}

resource "aws_iam_role_policy_attachment" "dynamodb" {
  role       = aws_iam_role.lambda.name
  policy_arn = aws_iam_policy.dynamodb.arn
}

# Metrics are Embedded Metric Format lines in the functions' own log groups (no PutMetricData),
# so CloudWatch access is writing to those log groups and nothing else.
data "aws_iam_policy_document" "cloudwatch" {
  statement {
    sid       = "WriteOwnLogGroups"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for arn in var.log_group_arns : "${arn}:*"]
  }
}

resource "aws_iam_policy" "cloudwatch" {
  name        = "${var.name_prefix}CloudWatch-Policy"
  description = "LiveInsight functions: write logs and EMF metrics (namespace ${var.metrics_namespace}) to their own log groups"
  policy      = data.aws_iam_policy_document.cloudwatch.json
}

resource "aws_iam_role_policy_attachment" "cloudwatch" {
  role       = aws_iam_role.lambda.name
  policy_arn = aws_iam_policy.cloudwatch.arn
}
