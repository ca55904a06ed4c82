"""Search core: chunking and embedding of code and docs for Weaviate.

No Airflow and no network here; the model is fetched once by :func:`model.ensure_model` at
install time (``freshpoc stack up``) and only read afterwards.
"""
