"""The local lake: the Firehose equivalent (uplink batches -> partitioned Parquet, once)."""
