# Pack: the API token as the password, the organization as an extra.
export AIRFLOW_CONN_PACK_DEFAULT='{"conn_type": "pack", "host": "https://api.pack.cloud",
  "password": "<api token>", "extra": {"organization_id": "org_123"}}'

# Commerce Layer: an integration's client id and secret, the scope as an extra.
export AIRFLOW_CONN_COMMERCELAYER_DEFAULT='{"conn_type": "commercelayer", "host": "acme",
  "login": "<client id>", "password": "<client secret>", "extra": {"scope": "market:id:xYZkjABcde"}}'

# Extras both types accept: a fast-failing connection for a pipeline that must not wait long.
export AIRFLOW_CONN_COMMERCELAYER_FAST='{"conn_type": "commercelayer", "host": "acme",
  "login": "<client id>", "password": "<client secret>",
  "extra": {"max_attempts": 3, "max_retry_wait": 10, "request_timeout": 60, "read_timeout": 20}}'
