"""Analysis core: files at a commit into one typed graph delta. No Airflow, no servers."""
