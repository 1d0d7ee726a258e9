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

  # The Access table (API keys, shared links: chalicelib/store/access.py) is not among the data tables:
  # the functions read one credential by its key and note its last use, nothing more (no Scan, no Put).
  # Creating, listing and revoking are the operator's CLI's, with the operator's own AWS credentials.
  data_table_arns = [for base, arn in var.table_arns : arn if base != "Access"]

  # Exactly the calls chalicelib/store makes, on LiveInsight's tables and their indexes only.
  dynamodb_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
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
        Resource = concat(local.data_table_arns, [for arn in local.data_table_arns : "${arn}/index/*"])
      },
      {
        Sid      = "ReadCredentials"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
        Resource = [var.table_arns["Access"]]
      },
      ], [
      for key in compact([var.kms_key_arn]) : {
        Sid      = "TableEncryptionKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource = [key]
      }
    ])
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

# --- The event lake's functions: a role each, granting only their part of the lake ---------------
locals {
  lake_objects  = "${var.lake.bucket_arn}/${var.lake.events_prefix}*"
  dead_letters  = "${var.lake.bucket_arn}/${var.lake.dead_letter_prefix}*"
  exports       = "${var.lake.bucket_arn}/${var.lake.exports_prefix}*"
  function_arn  = "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function"
  log_group_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/lambda"
  glue_resources = [
    "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog",
    "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${var.lake.database_name}",
    "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${var.lake.database_name}/*",
  ]
  # Only under the events prefix: ListBucket's s3:prefix condition (S3 User Guide, "Bucket policy examples").
  list_events = {
    Sid       = "ListEventObjects"
    Effect    = "Allow"
    Action    = "s3:ListBucket"
    Resource  = var.lake.bucket_arn
    Condition = { StringLike = { "s3:prefix" = ["${var.lake.events_prefix}*"] } }
  }
  # Compaction and erasure take a lease on a partition before rewriting it (chalicelib/store/leases.py):
  # items of the Stats table whose key is "<site>#lake-lease", and no other item of it.
  partition_leases = {
    Sid       = "PartitionLeases"
    Effect    = "Allow"
    Action    = ["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:GetItem"]
    Resource  = [var.table_arns["Stats"]]
    Condition = { "ForAllValues:StringLike" = { "dynamodb:LeadingKeys" = ["*#lake-lease"] } }
  }
  # Compaction and erasure rewrite partitions: read, put and delete event objects, nothing else.
  rewrite_events = {
    Sid      = "RewriteEventObjects"
    Effect   = "Allow"
    Action   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    Resource = [local.lake_objects]
  }
  own_logs = { for key in ["stats_aggregator", "lake_writer", "lake_compaction", "lake_query", "lake_erasure"] : key => {
    Sid      = "WriteOwnLogGroup"
    Effect   = "Allow"
    Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    Resource = ["${local.log_group_arn}/${var.function_names[key]}:*"]
  } }
  # What Lambda's event source mapping calls with the function's role to poll the Events stream.
  read_events_stream = {
    Sid      = "ReadEventsStream"
    Effect   = "Allow"
    Action   = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]
    Resource = [var.lake.events_stream_arn]
  }
  # ...and to hand a batch it abandons (its records left the stream, 24 hours) to the on-failure queue.
  send_abandoned_batches = {
    Sid      = "SendAbandonedBatches"
    Effect   = "Allow"
    Action   = "sqs:SendMessage"
    Resource = [var.lake.stream_failures_queue_arn]
  }

  # The stream writer: reads the Events table's stream, adds objects under events/ and dead-letter/
  # (never reads, lists or deletes one), and hands abandoned batches to the failure queue.
  lake_writer_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      local.own_logs.lake_writer,
      local.read_events_stream,
      {
        Sid      = "PutLakeObjects"
        Effect   = "Allow"
        Action   = "s3:PutObject"
        Resource = [local.lake_objects, local.dead_letters]
      },
      local.send_abandoned_batches,
      ], [
      for key in compact([var.kms_key_arn]) : {
        Sid      = "DataKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [key]
      }
    ])
  })

  # Compaction: reads a partition's objects, writes the compacted object and its manifest, deletes
  # the objects it replaced: all under events/ only.
  lake_compaction_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      local.own_logs.lake_compaction,
      local.list_events,
      local.partition_leases,
      local.rewrite_events,
      ], [
      for key in compact([var.kms_key_arn]) : {
        Sid      = "DataKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
        Resource = [key]
      }
    ])
  })

  # The query function: reads the lake (DuckDB), or runs Athena in its workgroup, which reads the
  # Glue table and the lake with these same credentials and writes results to the results bucket.
  lake_query_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      local.own_logs.lake_query,
      local.list_events,
      {
        Sid      = "ReadEventObjects"
        Effect   = "Allow"
        Action   = "s3:GetObject"
        Resource = [local.lake_objects]
      },
      # GET /export: the query function writes the file under exports/ and signs its download link,
      # which S3 serves with these same rights (GetObject); nothing else of the bucket is writable.
      {
        Sid      = "WriteAndLinkExports"
        Effect   = "Allow"
        Action   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"]
        Resource = [local.exports]
      },
      {
        Sid      = "LocateLakeBucket"
        Effect   = "Allow"
        Action   = "s3:GetBucketLocation"
        Resource = [var.lake.bucket_arn]
      },
      {
        Sid      = "RunAthenaInItsWorkgroup"
        Effect   = "Allow"
        Action   = ["athena:StartQueryExecution", "athena:GetQueryExecution", "athena:GetQueryResults", "athena:StopQueryExecution"]
        Resource = [var.lake.athena_workgroup_arn]
      },
      {
        Sid      = "ReadTheGlueTable"
        Effect   = "Allow"
        Action   = ["glue:GetDatabase", "glue:GetTable", "glue:GetPartition", "glue:GetPartitions"]
        Resource = local.glue_resources
      },
      {
        Sid      = "AthenaResults"
        Effect   = "Allow"
        Action   = ["s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
        Resource = [var.lake.results_bucket_arn, "${var.lake.results_bucket_arn}/*"]
      },
      ], [
      for key in compact([var.kms_key_arn]) : {
        Sid      = "DataKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:GenerateDataKey"]
        Resource = [key]
      }
    ])
  })

  # Erasure (DELETE /visitors/{id}, the function erase_visitor): the only path that deletes events
  # and sessions from DynamoDB, and that rewrites lake objects without a visitor's rows.
  lake_erasure_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      local.own_logs.lake_erasure,
      local.list_events,
      local.partition_leases,
      local.rewrite_events,
      {
        Sid    = "FindAndDeleteVisitorItems"
        Effect = "Allow"
        Action = ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
        Resource = concat(
          [for base in ["Events", "Sessions"] : var.table_arns[base]],
          [for base in ["Events", "Sessions"] : "${var.table_arns[base]}/index/*"],
        )
      },
      ], [
      for key in compact([var.kms_key_arn]) : {
        Sid      = "DataKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
        Resource = [key]
      }
    ])
  })

  # The statistics aggregator (aggregate_events): reads the Events stream and updates the minute
  # buckets of the Stats table with conditional UpdateItem and PutItem calls (and a Query of a minute's
  # items where the minute continued in more of them). The stream carries the events; no other table.
  stats_aggregator_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      local.own_logs.stats_aggregator,
      local.read_events_stream,
      {
        Sid      = "UpdateStatsBuckets"
        Effect   = "Allow"
        Action   = ["dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:Query"]
        Resource = [var.table_arns["Stats"]]
      },
      local.send_abandoned_batches,
      ], [
      for key in compact([var.kms_key_arn]) : {
        Sid      = "TableEncryptionKey"
        Effect   = "Allow"
        Action   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource = [key]
      }
    ])
  })

  # The API function hands lake queries and erasures to their functions, and may invoke nothing else.
  invoke_lake_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "InvokeLakeFunctions"
      Effect   = "Allow"
      Action   = "lambda:InvokeFunction"
      Resource = ["${local.function_arn}:${var.function_names.lake_query}", "${local.function_arn}:${var.function_names.lake_erasure}"]
    }]
  })
}
