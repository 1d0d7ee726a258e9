# The lake layer: DuckDB and sqlglot (requirements-lake.txt), built by `make package`
# (deploy/package.py) into lake-layer.zip beside chalice.tf.json. Only the lake's functions load it
# (the package fix adds it to them), so the event collector's package and cold start do not grow.
resource "aws_lambda_layer_version" "lake" {
  layer_name               = "${var.name_prefix}LakeEngines"
  description              = "DuckDB and sqlglot for the event lake's functions (requirements-lake.txt)"
  filename                 = "${path.module}/${var.lake_layer_zip}"
  source_code_hash         = filebase64sha256("${path.module}/${var.lake_layer_zip}")
  compatible_runtimes      = [var.lambda_runtime]
  compatible_architectures = ["x86_64"]
}
