# Remote state per environment: `terraform init -backend-config=environments/<stage>.s3.tfbackend`
# (make plan and make deploy do this). The bucket comes from terraform/bootstrap. Kept in a file of
# its own: the offline checks (make test) read the configuration without a backend.
terraform {
  backend "s3" {}
}
