-- Databases and roles of FreshPoC, as `freshpoc stack up` creates them without Docker.
CREATE ROLE airflow LOGIN PASSWORD 'airflow-local-pg';
CREATE DATABASE airflow OWNER airflow;
CREATE ROLE freshpoc LOGIN PASSWORD 'freshpoc-local-pg';
CREATE DATABASE freshpoc OWNER freshpoc;
\connect freshpoc
CREATE SCHEMA IF NOT EXISTS freshpoc AUTHORIZATION freshpoc;
