"""graphkit: graph machine learning on tables, from a laptop to a Kubeflow cluster.

Stages (each a CLI sub-command and, later, a Kubeflow component):
transform -> idmap (together: construct) -> partition -> train -> infer.
"""

__version__ = "0.1.0"
