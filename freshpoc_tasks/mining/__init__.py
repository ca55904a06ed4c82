"""Mining core: repository access, file inventory and git history. No Airflow, no servers."""
