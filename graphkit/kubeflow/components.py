"""One Kubeflow Pipelines v2 component per graphkit stage.

Each is a lightweight ``@dsl.component`` on the project's image
(:data:`graphkit.kubeflow.image.IMAGE`, pinned to the package version) with
``install_kfp_package=False``: the image already has graphkit and kfp, so nothing is
installed when a step starts. The same definition runs in that container on Kubernetes
and, unchanged, in a subprocess of kfp's local runner (``SubprocessRunner``), which runs
only lightweight components.

The body of every component is one line: :func:`graphkit.kubeflow.runtime.run_stage`
builds the ``graphkit`` command line from the parameters and artifacts, runs it, logs
metrics and writes the report. Kubernetes details (GPUs, node selectors, tolerations,
volumes, secrets) are applied by the pipelines, never here.

Adding a stage: an argv function and a :data:`~graphkit.kubeflow.runtime.STAGES` entry in the
runtime, then a typed function here decorated with :func:`stage_component`, listed in
:data:`COMPONENTS`. Options that a component does not name go through its ``options`` string,
appended to the command line as typed (``"--batch-size 128 --ntypes paper"``).
"""


from typing import Callable

from kfp import dsl
from kfp.dsl import HTML, Dataset, Input, Markdown, Metrics, Model, Output

from graphkit.kubeflow.image import IMAGE


def stage_component(func: Callable) -> Callable:
    """A graphkit stage as a lightweight component on the pinned image, with nothing installed at run time."""
    return dsl.component(func, base_image=IMAGE, install_kfp_package=False)


@stage_component
def transform(input_dir: str, conf_file: str, transformed: Output[Dataset], report: Output[Markdown],
              seed: int = 0):
    """Fit and apply feature/label transforms to the tables in ``input_dir`` (a path or s3:// URI)."""
    from graphkit.kubeflow.runtime import run_stage

    run_stage("transform", **locals())


@stage_component
def apply_transforms(input_dir: str, conf_file: str, trained_graph: Input[Dataset], transformed: Output[Dataset],
                     report: Output[Markdown]):
    """Transform new tables with a trained graph's fitted transforms, label metadata and edge-only ID maps."""
    from graphkit.kubeflow.runtime import run_stage

    run_stage("transform", **locals())


@stage_component
def idmap(transformed: Input[Dataset], graph: Output[Dataset], metrics: Output[Metrics], report: Output[Markdown],
          graph_name: str = "graph", add_reverse_edges: bool = True, skip_nonexist_edges: bool = False):
    """Map raw IDs to integers, build the structure and write the graph directory."""
    from graphkit.kubeflow.runtime import run_stage

    run_stage("idmap", **locals())


@stage_component
def partition(graph: Input[Dataset], partitions: Output[Dataset], metrics: Output[Metrics],
              report: Output[Markdown], num_parts: int = 2, part_method: str = "metis", seed: int = 0):
    """Split the graph into partitions (METIS or random); logs edge cut and balance."""
    from graphkit.kubeflow.runtime import run_stage

    run_stage("partition", **locals())


@stage_component
def train(graph: Input[Dataset], train_config: str, model: Output[Model], metrics: Output[Metrics],
          report: Output[HTML], overrides: str = "", seed: int = -1):
    """Train a GNN for the task(s) of a GraphStorm training YAML (a path, an s3:// URI or the YAML itself)."""
    from graphkit.kubeflow.runtime import run_stage

    run_stage("train", **locals())


@stage_component
def infer(graph: Input[Dataset], model: Input[Model], predictions: Output[Dataset], embeddings: Output[Dataset],
          report: Output[Markdown], topk: int = 10, device: str = "cpu", options: str = ""):
    """Embeddings, predictions and ranked links, as Parquet keyed by the original node IDs.

    ``device``: ``cpu``, ``auto`` (the GPU when the step has one) or ``cuda``; ``options`` as on the CLI.
    """
    from graphkit.kubeflow.runtime import run_stage

    run_stage("infer", **locals())


@stage_component
def lm_finetune(graph: Input[Dataset], lm_model: str, model: Output[Model], metrics: Output[Metrics],
                report: Output[Markdown], mode: str = "graph-aware", epochs: int = 1, seed: int = 0,
                options: str = ""):
    """Fine-tune a Hugging Face LM on the graph's text (graph-aware link prediction or supervised); a model folder."""
    from graphkit.kubeflow.runtime import run_stage

    run_stage("lm-finetune", **locals())


@stage_component
def lm_embed(graph: Input[Dataset], embedded: Output[Dataset], metrics: Output[Metrics], report: Output[Markdown],
             lm_model: str = "", finetuned_model: Input[Model] = None, feature_name: str = "lm_emb",
             pooling: str = "mean", cache_dir: str = "", options: str = ""):
    """The graph plus LM embeddings of its text as a node feature (a fine-tuned model artifact wins over lm_model)."""
    from graphkit.kubeflow.runtime import run_stage

    run_stage("lm-embed", **locals())


@stage_component
def distill(graph: Input[Dataset], teacher: Input[Model], student: Output[Model], metrics: Output[Metrics],
            report: Output[Markdown], student_kind: str = "mlp", lm_model: str = "", num_epochs: int = -1,
            options: str = ""):
    """Distil the trained GNN into a student (MLP on features, or an LM on text) that needs no graph."""
    from graphkit.kubeflow.runtime import run_stage

    run_stage("distill", **locals())


# name -> component, in pipeline order (component YAMLs are generated from this)
COMPONENTS = {
    "transform": transform,
    "apply_transforms": apply_transforms,
    "idmap": idmap,
    "partition": partition,
    "lm_finetune": lm_finetune,
    "lm_embed": lm_embed,
    "train": train,
    "distill": distill,
    "infer": infer,
}
