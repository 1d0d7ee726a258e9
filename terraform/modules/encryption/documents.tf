# The key policy, as a plain local: the offline tests render it with Terraform itself
# (tests/infrastructure/test_rendered_documents.py) and check IAM's grammar.
locals {
  key_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersTheKeyThroughIAM"
        Effect    = "Allow"
        Action    = "kms:*"
        Resource  = "*"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
      },
      {
        Sid       = "CloudWatchLogsEncryptsLiveInsightLogGroups"
        Effect    = "Allow"
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"
          }
        }
      },
      {
        Sid       = "CloudWatchAlarmsPublishToTheEncryptedTopic"
        Effect    = "Allow"
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Principal = { Service = "cloudwatch.amazonaws.com" }
      },
    ]
  })
}
