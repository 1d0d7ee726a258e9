# The functions' role, with the operations guide's names in prod: LiveInsight-Lambda-Role with
# AWSLambdaBasicExecutionRole, LiveInsight-DynamoDB-Policy and LiveInsight-CloudWatch-Policy.
# Chalice is told not to manage a role (.chalice/config.json: manage_iam_role false), because its
# generated policy misses the DynamoDB calls made from chalicelib/. The documents: documents.tf.

data "aws_partition" "this" {}
data "aws_caller_identity" "this" {}
data "aws_region" "this" {}

locals {
  # What documents.tf needs of the account it is deployed to.
  account_id = data.aws_caller_identity.this.account_id
  region     = data.aws_region.this.name
  partition  = data.aws_partition.this.partition
}

resource "aws_iam_role" "lambda" {
  name               = "${var.name_prefix}Lambda-Role"
  description        = "LiveInsight functions: event collector, session expiry, statistics rollup"
  assume_role_policy = local.assume_role_policy
}

resource "aws_iam_role_policy_attachment" "basic_execution" {
  role       = aws_iam_role.lambda.name
  policy_arn = "arn:${data.aws_partition.this.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_policy" "dynamodb" {
  name        = "${var.name_prefix}DynamoDB-Policy"
  description = "LiveInsight functions: read and write LiveInsight's tables and indexes"
  policy      = local.dynamodb_policy
}

resource "aws_iam_role_policy_attachment" "dynamodb" {
  role       = aws_iam_role.lambda.name
  policy_arn = aws_iam_policy.dynamodb.arn
}

resource "aws_iam_policy" "cloudwatch" {
  name        = "${var.name_prefix}CloudWatch-Policy"
  description = "LiveInsight functions: write logs and EMF metrics (namespace ${var.metrics_namespace}) to their own log groups"
  policy      = local.cloudwatch_policy
}

resource "aws_iam_role_policy_attachment" "cloudwatch" {
  role       = aws_iam_role.lambda.name
  policy_arn = aws_iam_policy.cloudwatch.arn
}

# The API function hands lake queries and erasures (DELETE /visitors/{id}) to their functions.
resource "aws_iam_policy" "invoke_lake" {
  name        = "${var.name_prefix}InvokeLake-Policy"
  description = "LiveInsight API: invoke the event lake's query and erasure functions, and no other"
  policy      = local.invoke_lake_policy
}

resource "aws_iam_role_policy_attachment" "invoke_lake" {
  role       = aws_iam_role.lambda.name
  policy_arn = aws_iam_policy.invoke_lake.arn
}

# --- The event lake: one role per function, each with only its own part (documents.tf) ----------
locals {
  lake_roles = {
    lake_writer     = { name = "EventLakeWriter", policy = local.lake_writer_policy, about = "write new events under events/ and dead-letter/ of the lake, from the Events stream" }
    lake_compaction = { name = "EventLakeCompaction", policy = local.lake_compaction_policy, about = "read, write and delete objects under events/ of the lake" }
    lake_query      = { name = "EventLakeQuery", policy = local.lake_query_policy, about = "read the lake and run Athena in the lake's workgroup" }
    lake_erasure    = { name = "EventLakeErasure", policy = local.lake_erasure_policy, about = "erase a visitor: delete their items and rewrite lake objects without their rows" }
  }
}

resource "aws_iam_role" "lake" {
  for_each = local.lake_roles

  name               = "${var.name_prefix}${each.value.name}-Role"
  description        = "LiveInsight ${var.function_names[each.key]}: ${each.value.about}"
  assume_role_policy = local.assume_role_policy
}

resource "aws_iam_policy" "lake" {
  for_each = local.lake_roles

  name        = "${var.name_prefix}${each.value.name}-Policy"
  description = "LiveInsight ${var.function_names[each.key]}: ${each.value.about}"
  policy      = each.value.policy
}

resource "aws_iam_role_policy_attachment" "lake" {
  for_each = local.lake_roles

  role       = aws_iam_role.lake[each.key].name
  policy_arn = aws_iam_policy.lake[each.key].arn
}

# --- The statistics aggregator: a role of its own, the Events stream to the Stats table (documents.tf) ---
resource "aws_iam_role" "stats_aggregator" {
  name               = "${var.name_prefix}StatsAggregator-Role"
  description        = "LiveInsight ${var.function_names.stats_aggregator}: the Events stream to the realtime statistics in the Stats table"
  assume_role_policy = local.assume_role_policy
}

resource "aws_iam_policy" "stats_aggregator" {
  name        = "${var.name_prefix}StatsAggregator-Policy"
  description = "LiveInsight ${var.function_names.stats_aggregator}: read the Events stream; update, put and query items of the Stats table"
  policy      = local.stats_aggregator_policy
}

resource "aws_iam_role_policy_attachment" "stats_aggregator" {
  role       = aws_iam_role.stats_aggregator.name
  policy_arn = aws_iam_policy.stats_aggregator.arn
}
