# Airflow 3.3.2 with FreshPoC's pinned requirements and the freshpoc-tasks package.
FROM apache/airflow:3.3.2-python3.11
USER root
RUN apt-get update && apt-get install -y --no-install-recommends git curl && rm -rf /var/lib/apt/lists/*
USER airflow
COPY --chown=airflow requirements.txt constraints.txt /opt/freshpoc/
RUN pip install --no-cache-dir -r /opt/freshpoc/requirements.txt -c /opt/freshpoc/constraints.txt
COPY --chown=airflow . /opt/freshpoc
RUN pip install --no-cache-dir --no-deps /opt/freshpoc
