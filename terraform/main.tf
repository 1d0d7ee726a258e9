# LiveInsight: the hand-written half of the deployment. `make package` puts this beside
# Chalice's generated chalice.tf.json (the functions, the REST API and the schedules), whose
# names, role and dependencies point back at the locals and modules here.

locals {
  # The function names the operations guide uses for prod (LiveInsight-EventCollector).
  function_names = {
    api    = "${var.name_prefix}EventCollector"
    expiry = "${var.name_prefix}SessionExpiry"
    rollup = "${var.name_prefix}StatsRollup"
    # The realtime statistics: the Events stream to the minute buckets of the Stats table.
    stats_aggregator = "${var.name_prefix}StatsAggregator"
    # The event lake (docs/lake.md): stream writer, hourly compaction, query engine.
    lake_writer     = "${var.name_prefix}EventLakeWriter"
    lake_compaction = "${var.name_prefix}EventLakeCompaction"
    lake_query      = "${var.name_prefix}EventLakeQuery"
    # GDPR erasure (DELETE /visitors/{id}): the only function that deletes events.
    lake_erasure = "${var.name_prefix}VisitorErasure"
  }
  # Tables, keys and indexes: generated from chalicelib/tables.py, the app's own definition.
  tables = jsondecode(file("${path.module}/tables.json"))
  # The lake's columns and partition keys: generated from chalicelib/schema/lake.py.
  lake_schema = jsondecode(file("${path.module}/lake_schema.json"))
  # The EMF metrics' Environment dimension (chalicelib/settings.py: Production for prod).
  metrics_environment = var.stage == "prod" ? "Production" : var.stage
  api_name            = trimsuffix(var.name_prefix, "-") # LiveInsight in prod, LiveInsight-dev beside it
}

module "encryption" {
  count       = var.customer_managed_key ? 1 : 0
  source      = "./modules/encryption"
  name_prefix = var.name_prefix
}

locals {
  # null without a customer-managed key: each module then uses its service's AWS managed key or own encryption.
  kms_key_arn = var.customer_managed_key ? module.encryption[0].key_arn : null
}

module "tables" {
  source               = "./modules/tables"
  name_prefix          = var.name_prefix
  tables               = local.tables
  billing_mode         = var.billing_mode
  provisioned_capacity = var.provisioned_capacity
  deletion_protection  = var.deletion_protection
  kms_key_arn          = local.kms_key_arn
}

module "lake" {
  source               = "./modules/lake"
  name_prefix          = var.name_prefix
  schema               = local.lake_schema
  events_prefix        = local.lake_schema.events_prefix
  kms_key_arn          = local.kms_key_arn
  event_retention_days = var.event_retention_days
}

module "logs" {
  source         = "./modules/logs"
  function_names = values(local.function_names)
  retention_days = var.log_retention_days
  kms_key_arn    = local.kms_key_arn
}

module "iam" {
  source            = "./modules/iam"
  name_prefix       = var.name_prefix
  table_arns        = module.tables.table_arns
  kms_key_arn       = local.kms_key_arn
  log_group_arns    = module.logs.log_group_arns
  metrics_namespace = "LiveInsight"
  function_names    = local.function_names
  lake = {
    bucket_arn                = module.lake.bucket_arn
    events_prefix             = local.lake_schema.events_prefix
    dead_letter_prefix        = "dead-letter/"
    results_bucket_arn        = module.lake.results_bucket_arn
    athena_workgroup_arn      = module.lake.athena_workgroup_arn
    database_name             = module.lake.athena_database_name
    events_stream_arn         = module.tables.stream_arns["Events"]
    stream_failures_queue_arn = module.lake.stream_failures_queue_arn
  }
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
  kms_key_arn                = local.kms_key_arn
  manage_api_gateway_account = var.manage_api_gateway_account
}

# What websites call, on an HTTP API ($1.00 per million requests; the REST API's are $3.50).
module "collector" {
  source               = "./modules/collector"
  name_prefix          = var.name_prefix
  stage_name           = var.stage
  route_keys           = var.collector_route_keys
  function_name        = aws_lambda_function.api_handler.function_name
  function_invoke_arn  = aws_lambda_function.api_handler.invoke_arn
  throttle_rate_limit  = var.api_throttle_rate_limit
  throttle_burst_limit = var.api_throttle_burst_limit
  log_retention_days   = var.log_retention_days
  kms_key_arn          = local.kms_key_arn
}

module "alarms" {
  source              = "./modules/alarms"
  name_prefix         = var.name_prefix
  function_names      = local.function_names
  api_name            = local.api_name
  api_stage           = var.stage
  collector_api_id    = module.collector.api_id
  metrics_environment = local.metrics_environment
  alarm_emails        = var.alarm_emails
  expect_traffic      = var.expect_traffic
  kms_key_arn         = local.kms_key_arn

  lake_failures_queue_name = module.lake.stream_failures_queue_name
}

module "dashboard" {
  source              = "./modules/dashboard"
  name_prefix         = var.name_prefix
  region              = var.region
  function_names      = local.function_names
  table_names         = module.tables.table_names
  api_name            = local.api_name
  api_stage           = var.stage
  collector_api_id    = module.collector.api_id
  metrics_environment = local.metrics_environment
}
