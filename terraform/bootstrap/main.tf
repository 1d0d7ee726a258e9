# One-time bootstrap of the remote state: a versioned, encrypted, private S3 bucket. Its own state
# is local (this directory); keep it, or import the bucket if you lose it.
terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "this" {}

resource "aws_s3_bucket" "state" {
  #checkov:skip=CKV_AWS_18:Access logs of the state bucket would need a second bucket; CloudTrail already records who changed state.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to state changes; notifications would have no consumer.
  #checkov:skip=CKV_AWS_144:State is versioned and small; cross-region replication doubles the buckets for a file Terraform can rebuild by import.
  bucket = "liveinsight-terraform-state-${data.aws_caller_identity.this.account_id}-${var.region}"
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    id     = "old-state-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 90
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

variable "region" {
  description = "Region of the state bucket."
  type        = string
  default     = "us-east-1"
}

output "state_bucket" {
  description = "Put this in terraform/environments/<stage>.s3.tfbackend as `bucket`."
  value       = aws_s3_bucket.state.bucket
}
