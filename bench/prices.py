"""List prices the cost model uses: the one place to update them. us-east-1, on-demand, as listed
in November 2026 (ARCHITECTURE.md's figures for 2025-26)."""

PRICES_AS_OF = "2026-11, us-east-1 list prices"

API_GATEWAY_REST_USD_PER_MILLION_REQUESTS = 3.50
LAMBDA_USD_PER_MILLION_REQUESTS = 0.20
LAMBDA_USD_PER_GB_SECOND = 0.0000166667  # x86_64 (arm64 is 20% less)
DYNAMODB_USD_PER_MILLION_WRITE_UNITS = 0.625  # on demand, 1 KB each
DYNAMODB_USD_PER_MILLION_READ_UNITS = 0.125  # on demand, 4 KB strongly consistent (half for eventual)
CLOUDWATCH_USD_PER_THOUSAND_PUT_METRIC_DATA = 0.01
CLOUDWATCH_LOGS_USD_PER_GB_INGESTED = 0.50

# Not a price: what a DynamoDB call adds to a Lambda's billed duration in the same region. The
# benchmark measures our own code's time without the emulator's, then adds this per call.
DYNAMODB_MS_PER_CALL = 5.0
CLOUDWATCH_MS_PER_CALL = 10.0  # PutMetricData, for the baseline
