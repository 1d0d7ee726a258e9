# The functions' policy documents, as plain locals: the offline tests render them with Terraform
# itself (tests/infrastructure/test_rendered_documents.py) and check IAM's grammar.
locals {
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "lambda.amazonaws.com" }
    }]
  })

  # Exactly the calls chalicelib/store makes, on LiveInsight's tables and their indexes only.
  dynamodb_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid    = "LiveInsightTables"
        Effect = "Allow"
        Action = [
          "dynamodb:BatchGetItem",
          "dynamodb:DeleteItem",
          "dynamodb:GetItem",
          "dynamodb:PutItem",
          "dynamodb:Query",
          "dynamodb:UpdateItem",
        ]
        Resource = concat(values(var.table_arns), [for arn in values(var.table_arns) : "${arn}/index/*"])
      },
      {
        Sid      = "TableEncryptionKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource = [var.kms_key_arn]
      },
    ]
  })

  # Metrics are Embedded Metric Format lines in the functions' own log groups (no PutMetricData),
  # so CloudWatch access is writing to those log groups and nothing else.
  cloudwatch_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "WriteOwnLogGroups"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = [for arn in var.log_group_arns : "${arn}:*"]
    }]
  })
}
