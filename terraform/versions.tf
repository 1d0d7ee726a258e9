terraform {
  # 1.10: the S3 backend's use_lockfile (environments/*.s3.tfbackend) locks state without DynamoDB.
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}
