"""The query API, a FastAPI app served inside Airflow by the FreshPoC plugin."""
