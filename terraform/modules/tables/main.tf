# Every table of chalicelib/tables.py: keys, sparse KEYS_ONLY indexes and TTL come from there.
locals {
  names = { for base, table in var.tables : base => "${var.name_prefix}${base}" }
  # With provisioned capacity, each table and each index is auto scaled.
  scaled = var.billing_mode == "PROVISIONED" ? merge(
    { for base, table in var.tables : base => "table/${local.names[base]}" },
    merge([for base, table in var.tables : {
      for index in table.indexes : "${base}/${index.name}" => "table/${local.names[base]}/index/${index.name}"
    }]...)
  ) : {}
}

resource "aws_dynamodb_table" "this" {
  for_each = var.tables

  name                        = local.names[each.key]
  billing_mode                = var.billing_mode
  hash_key                    = each.value.hash_key
  range_key                   = each.value.range_key
  read_capacity               = var.billing_mode == "PROVISIONED" ? var.provisioned_capacity.read_min : null
  write_capacity              = var.billing_mode == "PROVISIONED" ? var.provisioned_capacity.write_min : null
  deletion_protection_enabled = var.deletion_protection
  # The Events table streams its new images to the event lake's writer (chalicelib/schema/tables.py).
  stream_enabled   = each.value.stream_view_type != null
  stream_view_type = each.value.stream_view_type

  dynamic "attribute" {
    for_each = each.value.attributes
    content {
      name = attribute.key
      type = attribute.value
    }
  }

  dynamic "global_secondary_index" {
    for_each = each.value.indexes
    content {
      name            = global_secondary_index.value.name
      hash_key        = global_secondary_index.value.hash_key
      range_key       = global_secondary_index.value.range_key
      projection_type = global_secondary_index.value.projection
      read_capacity   = var.billing_mode == "PROVISIONED" ? var.provisioned_capacity.read_min : null
      write_capacity  = var.billing_mode == "PROVISIONED" ? var.provisioned_capacity.write_min : null
    }
  }

  dynamic "ttl" {
    for_each = each.value.ttl_attribute == null ? [] : [each.value.ttl_attribute]
    content {
      enabled        = true
      attribute_name = ttl.value
    }
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  point_in_time_recovery {
    enabled = true
  }

  lifecycle {
    # Auto scaling moves provisioned capacity; Terraform must not move it back.
    ignore_changes = [read_capacity, write_capacity]
  }
}

resource "aws_appautoscaling_target" "read" {
  for_each = local.scaled

  service_namespace  = "dynamodb"
  resource_id        = each.value
  scalable_dimension = strcontains(each.value, "/index/") ? "dynamodb:index:ReadCapacityUnits" : "dynamodb:table:ReadCapacityUnits"
  min_capacity       = var.provisioned_capacity.read_min
  max_capacity       = var.provisioned_capacity.read_max
  depends_on         = [aws_dynamodb_table.this]
}

resource "aws_appautoscaling_target" "write" {
  for_each = local.scaled

  service_namespace  = "dynamodb"
  resource_id        = each.value
  scalable_dimension = strcontains(each.value, "/index/") ? "dynamodb:index:WriteCapacityUnits" : "dynamodb:table:WriteCapacityUnits"
  min_capacity       = var.provisioned_capacity.write_min
  max_capacity       = var.provisioned_capacity.write_max
  depends_on         = [aws_dynamodb_table.this]
}

resource "aws_appautoscaling_policy" "read" {
  for_each = aws_appautoscaling_target.read

  name               = "${replace(each.key, "/", "-")}-read"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = each.value.service_namespace
  resource_id        = each.value.resource_id
  scalable_dimension = each.value.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = 70
    predefined_metric_specification {
      predefined_metric_type = "DynamoDBReadCapacityUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "write" {
  for_each = aws_appautoscaling_target.write

  name               = "${replace(each.key, "/", "-")}-write"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = each.value.service_namespace
  resource_id        = each.value.resource_id
  scalable_dimension = each.value.scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = 70
    predefined_metric_specification {
      predefined_metric_type = "DynamoDBWriteCapacityUtilization"
    }
  }
}
