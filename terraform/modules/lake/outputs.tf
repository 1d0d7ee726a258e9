output "bucket_name" {
  description = "The lake bucket (LIVEINSIGHT_LAKE_BUCKET)."
  value       = aws_s3_bucket.lake.bucket
}

output "bucket_arn" {
  description = "ARN of the lake bucket."
  value       = aws_s3_bucket.lake.arn
}

output "results_bucket_arn" {
  description = "ARN of Athena's results bucket."
  value       = aws_s3_bucket.results.arn
}

output "stream_failures_queue_arn" {
  description = "The on-failure destination of the Events stream's mappings (the lake writer's and the statistics aggregator's)."
  value       = aws_sqs_queue.stream_failures.arn
}

output "stream_failures_queue_name" {
  description = "Name of the on-failure queue (its alarm's QueueName dimension)."
  value       = aws_sqs_queue.stream_failures.name
}

output "athena_workgroup_name" {
  description = "The Athena workgroup (LIVEINSIGHT_ATHENA_WORKGROUP)."
  value       = aws_athena_workgroup.this.name
}

output "athena_workgroup_arn" {
  description = "ARN of the Athena workgroup."
  value       = aws_athena_workgroup.this.arn
}

output "athena_database_name" {
  description = "The Glue database (LIVEINSIGHT_ATHENA_DATABASE); its table is events."
  value       = aws_glue_catalog_database.this.name
}

output "glue_table_name" {
  description = "The Glue table of the events."
  value       = aws_glue_catalog_table.events.name
}
