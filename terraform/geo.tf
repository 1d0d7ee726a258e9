# The country database (deploy/geo.py: DB-IP's IP to Country Lite, CC BY 4.0), built by `make package`
# into geo-layer.zip beside chalice.tf.json. Only the API function loads it (the package fix adds it):
# the collector's HTTP API is regional, so no CloudFront header gives a visitor's country.
resource "aws_lambda_layer_version" "geo" {
  layer_name               = "${var.name_prefix}CountryDatabase"
  description              = "DB-IP IP to Country Lite (CC BY 4.0) at /opt/geo/country.mmdb, for the event collector"
  filename                 = "${path.module}/${var.geo_layer_zip}"
  source_code_hash         = filebase64sha256("${path.module}/${var.geo_layer_zip}")
  compatible_runtimes      = [var.lambda_runtime]
  compatible_architectures = ["x86_64"]
}
