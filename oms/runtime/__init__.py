"""The imperative shell of one account: pipeline, worker, publish, account, logs, metrics."""
