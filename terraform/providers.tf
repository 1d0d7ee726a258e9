provider "aws" {
  region = var.region

  # Chalice tags only its Lambda functions; default tags reach every resource.
  default_tags {
    tags = merge({
      Application = "LiveInsight"
      Stage       = var.stage
      ManagedBy   = "terraform"
    }, var.tags)
  }
}
