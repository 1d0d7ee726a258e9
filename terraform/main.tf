# LiveInsight: the hand-written half of the deployment. `make package` puts this beside
# Chalice's generated chalice.tf.json (the functions, the REST API and the schedules), whose
# names, role and dependencies point back at the locals and modules here.

locals {
  # The function names the operations guide uses for prod (LiveInsight-EventCollector).
  function_names = {
    api    = "${var.name_prefix}EventCollector"
    expiry = "${var.name_prefix}SessionExpiry"
    rollup = "${var.name_prefix}StatsRollup"
  }
  # Tables, keys and indexes: generated from chalicelib/tables.py, the app's own definition.
  tables = jsondecode(file("${path.module}/tables.json"))
  # The EMF metrics' Environment dimension (chalicelib/settings.py: Production for prod).
  metrics_environment = var.stage == "prod" ? "Production" : var.stage
  api_name            = trimsuffix(var.name_prefix, "-") # LiveInsight in prod, LiveInsight-dev beside it
}

module "encryption" {
  source      = "./modules/encryption"
  name_prefix = var.name_prefix
}

module "tables" {
  source               = "./modules/tables"
  name_prefix          = var.name_prefix
  tables               = local.tables
  billing_mode         = var.billing_mode
  provisioned_capacity = var.provisioned_capacity
  deletion_protection  = var.deletion_protection
  kms_key_arn          = module.encryption.key_arn
}

module "logs" {
  source         = "./modules/logs"
  function_names = values(local.function_names)
  retention_days = var.log_retention_days
  kms_key_arn    = module.encryption.key_arn
}

module "iam" {
  source            = "./modules/iam"
  name_prefix       = var.name_prefix
  table_arns        = module.tables.table_arns
  kms_key_arn       = module.encryption.key_arn
  log_group_arns    = module.logs.log_group_arns
  metrics_namespace = "LiveInsight"
}

module "api" {
  source                     = "./modules/api"
  name_prefix                = var.name_prefix
  rest_api_id                = aws_api_gateway_rest_api.rest_api.id
  deployment_id              = aws_api_gateway_deployment.rest_api.id
  stage_name                 = var.stage
  throttle_rate_limit        = var.api_throttle_rate_limit
  throttle_burst_limit       = var.api_throttle_burst_limit
  log_retention_days         = var.log_retention_days
  kms_key_arn                = module.encryption.key_arn
  manage_api_gateway_account = var.manage_api_gateway_account
}

module "alarms" {
  source              = "./modules/alarms"
  name_prefix         = var.name_prefix
  function_names      = local.function_names
  table_names         = module.tables.table_names
  api_name            = local.api_name
  api_stage           = var.stage
  metrics_environment = local.metrics_environment
  alarm_emails        = var.alarm_emails
  expect_traffic      = var.expect_traffic
  kms_key_arn         = module.encryption.key_arn
}

module "dashboard" {
  source              = "./modules/dashboard"
  name_prefix         = var.name_prefix
  region              = var.region
  function_names      = local.function_names
  table_names         = module.tables.table_names
  api_name            = local.api_name
  api_stage           = var.stage
  metrics_environment = local.metrics_environment
}
