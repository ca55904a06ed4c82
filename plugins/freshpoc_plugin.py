"""FreshPoC's Airflow plugin for deployments that read plugins from this folder.

When freshpoc-tasks is pip-installed, Airflow already finds the plugin through the package's
``airflow.plugins`` entry point; this file lets a plain plugins folder work too. Airflow keeps
the first plugin of a given name, so both paths together load it once.
"""

from freshpoc_tasks.plugin import FreshPocPlugin

__all__ = ["FreshPocPlugin"]
