"""List prices the cost model uses: the one place to update them. us-east-1, on-demand, as listed
in November 2026 (ARCHITECTURE.md's figures for 2025-26)."""

PRICES_AS_OF = "2026-11, us-east-1 list prices"

API_GATEWAY_REST_USD_PER_MILLION_REQUESTS = 3.50
# HTTP APIs (the collector, terraform/modules/collector): the first 300 million requests a month; each
# request is metered in 512 KB steps, and the collector's are under 64 KB, so one step each.
API_GATEWAY_HTTP_USD_PER_MILLION_REQUESTS = 1.00
LAMBDA_USD_PER_MILLION_REQUESTS = 0.20
LAMBDA_USD_PER_GB_SECOND = 0.0000166667  # x86_64 (arm64 is 20% less)
DYNAMODB_USD_PER_MILLION_WRITE_UNITS = 0.625  # on demand, 1 KB each
DYNAMODB_USD_PER_MILLION_READ_UNITS = 0.125  # on demand, 4 KB strongly consistent (half for eventual)
CLOUDWATCH_USD_PER_THOUSAND_PUT_METRIC_DATA = 0.01
CLOUDWATCH_LOGS_USD_PER_GB_INGESTED = 0.50

# What a deployed stage costs by the month whether or not anyone visits (bench/idle_cost.py).
# Same source and date: aws.amazon.com/kms/pricing and aws.amazon.com/cloudwatch/pricing, us-east-1.
KMS_USD_PER_KEY_MONTH = 1.00  # each customer-managed key, prorated hourly
KMS_USD_PER_ROTATION_MONTH = 1.00  # automatic rotation: the 1st and 2nd rotation each add this, later ones nothing
KMS_BILLED_ROTATIONS = 2
KMS_USD_PER_10K_REQUESTS = 0.03  # beyond the free tier's 20,000 requests a month
# The event lake (aws.amazon.com/s3/pricing, S3 Standard, us-east-1): PUT, COPY, POST and LIST
# requests are billed alike; DELETE is free; DynamoDB Streams reads made by Lambda are free.
S3_USD_PER_THOUSAND_PUTS = 0.005
S3_USD_PER_THOUSAND_GETS = 0.0004
S3_USD_PER_GB_MONTH = 0.023
CLOUDWATCH_USD_PER_ALARM_METRIC_MONTH = 0.10  # standard resolution; a metric math alarm pays per metric it reads
CLOUDWATCH_USD_PER_CUSTOM_METRIC_MONTH = 0.30  # first 10,000; each name + dimension set, prorated by the hour
CLOUDWATCH_USD_PER_DASHBOARD_MONTH = 3.00
CLOUDWATCH_FREE_DASHBOARDS = 3  # per account, up to 50 metrics each
CLOUDWATCH_LOGS_USD_PER_GB_MONTH_STORED = 0.03
# The always-free tier (per account, shared with everything else in it; not in the list-price totals).
FREE_TIER = {"alarm_metrics": 10, "custom_metrics": 10, "dashboards": CLOUDWATCH_FREE_DASHBOARDS,
             "log_gb": 5,  # ingestion, storage and Logs Insights scans together
             "lambda_requests": 1_000_000, "lambda_gb_seconds": 400_000, "kms_requests": 20_000}

# Not a price: what a DynamoDB call adds to a Lambda's billed duration in the same region. The
# benchmark measures our own code's time without the emulator's, then adds this per call.
DYNAMODB_MS_PER_CALL = 5.0
CLOUDWATCH_MS_PER_CALL = 10.0  # PutMetricData, for the baseline
S3_MS_PER_CALL = 20.0  # a LIST or a small GET/PUT of the lake's jobs
# Lambda's own lines per invocation (START, END, REPORT; text format, no X-Ray): their bytes are
# computed from the format in bench/idle_cost.py, about 250-300 bytes, and billed as log ingestion.
