data "aws_caller_identity" "this" {}
data "aws_region" "this" {}
data "aws_partition" "this" {}

locals {
  # What the key policy (documents.tf) needs of the account it is deployed to.
  account_id = data.aws_caller_identity.this.account_id
  region     = data.aws_region.this.name
  partition  = data.aws_partition.this.partition
}

# One customer-managed key for LiveInsight's data at rest: tables, log groups, Lambda environment
# variables and the alarm topic. IAM policies in the account decide who may use it.
resource "aws_kms_key" "this" {
  #checkov:skip=CKV_AWS_111:A key policy's Resource "*" means this key only; the statements are scoped by principal and condition.
  #checkov:skip=CKV_AWS_356:A key policy's Resource "*" means this key only.
  #checkov:skip=CKV_AWS_109:The account root administers its own key through IAM, the AWS default key policy.
  description             = "${var.name_prefix}data: tables, logs, function environment, alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = var.deletion_window_in_days
  policy                  = local.key_policy
}

resource "aws_kms_alias" "this" {
  name          = "alias/${lower(trimsuffix(var.name_prefix, "-"))}"
  target_key_id = aws_kms_key.this.key_id
}
