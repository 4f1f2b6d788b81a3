"""The training and inference pipelines, built from the stage components.

Kubernetes specifics are pipeline parameters applied here with ``kfp-kubernetes``, not
baked into components: the PVC with graph data (mounted at :data:`DATA_MOUNT` in every
step), the Secret with S3 credentials (its keys become the standard ``AWS_*`` variables,
every key optional), and for the training step the image, GPU type and count, node
selector and tolerations. kfp's local runner ignores them.

Extension points for the LM stages (issue 6): LM fine-tuning and LM embedding go between
partition and train, distillation after train, each under its own ``dsl.If`` switch like
``run_partition``; their components come with their core.
"""

from kfp import dsl, kubernetes
from kfp.dsl import Dataset, Model

from graphkit.kubeflow import components as c
from graphkit.kubeflow.image import IMAGE

DATA_MOUNT = "/mnt/graphkit"  # where the data PVC is mounted in every step
S3_SECRET_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")


def with_cluster_settings(task: dsl.PipelineTask, pvc_name: str, s3_secret: str) -> dsl.PipelineTask:
    """Mount the data PVC and expose the S3 Secret's keys as ``AWS_*`` variables (each optional)."""
    kubernetes.mount_pvc(task, pvc_name=pvc_name, mount_path=DATA_MOUNT)
    kubernetes.use_secret_as_env(task, secret_name=s3_secret, secret_key_to_env={k: k for k in S3_SECRET_KEYS},
                                 optional=True)
    return task


@dsl.pipeline(name="graphkit-train",
              description="Tables -> transform -> idmap -> (partition) -> GNN train -> infer, with graphkit.")
def training_pipeline(
    input_dir: str,
    train_config: str,
    conf_file: str = "gconstruct.json",
    graph_name: str = "graph",
    add_reverse_edges: bool = True,
    skip_nonexist_edges: bool = False,
    seed: int = 0,
    run_partition: bool = False,
    num_parts: int = 2,
    part_method: str = "metis",
    train_overrides: str = "",
    topk: int = 10,
    train_image: str = IMAGE,
    gpu_type: str = "nvidia.com/gpu",
    gpus: int = 0,
    train_node_selector: dict = {},
    train_tolerations: list = [],
    pvc_name: str = "graphkit-data",
    s3_secret: str = "graphkit-s3",
) -> Dataset:
    """End-to-end training; returns the predictions.

    Args:
        input_dir: Folder of the tables: a path (e.g. under /mnt/graphkit, the data PVC) or an s3:// URI.
        train_config: GraphStorm training YAML: a path, an s3:// URI, or the YAML text itself.
        conf_file: gconstruct JSON, relative to ``input_dir`` unless absolute (default: gconstruct.json).
        run_partition: Also partition the graph (kept as an artifact for multi-process training).
        train_overrides: Training options as on the CLI, e.g. ``--num-epochs 3 --lr 0.01``.
        train_image: Image of the training step; use the ``-cuda`` tag with GPUs.
        gpus: GPUs of the training step (of ``gpu_type``; 0 runs on CPU).
        train_node_selector / train_tolerations: Where the training step may run (e.g. a GPU pool).
        pvc_name: PersistentVolumeClaim mounted at /mnt/graphkit in every step.
        s3_secret: Secret whose AWS_* keys (all optional) give the steps S3 credentials.
    """
    tr = c.transform(input_dir=input_dir, conf_file=conf_file, seed=seed)
    g = c.idmap(transformed=tr.outputs["transformed"], graph_name=graph_name, add_reverse_edges=add_reverse_edges,
                skip_nonexist_edges=skip_nonexist_edges)
    with dsl.If(run_partition == True, name="partition-enabled"):  # noqa: E712 (a pipeline condition, not Python)
        pt = c.partition(graph=g.outputs["graph"], num_parts=num_parts, part_method=part_method, seed=seed)
        with_cluster_settings(pt, pvc_name, s3_secret)
    # The trainer is single-process: it reads the whole graph; partitions are for multi-process training.
    t = c.train(graph=g.outputs["graph"], train_config=train_config, overrides=train_overrides, seed=seed)
    t.set_container_image(train_image).set_accelerator_type(gpu_type).set_accelerator_limit(gpus)
    kubernetes.add_node_selector_json(t, train_node_selector)
    kubernetes.add_toleration_json(t, train_tolerations)
    inf = c.infer(graph=g.outputs["graph"], model=t.outputs["model"], topk=topk)
    for task in (tr, g, t, inf):
        with_cluster_settings(task, pvc_name, s3_secret)
    return inf.outputs["predictions"]


@dsl.pipeline(name="graphkit-infer",
              description="New tables -> saved transforms and ID maps -> graph -> a trained model's predictions.")
def inference_pipeline(
    input_dir: str,
    graph_uri: str,
    model_uri: str,
    conf_file: str = "gconstruct.json",
    graph_name: str = "graph",
    add_reverse_edges: bool = True,
    skip_nonexist_edges: bool = False,
    topk: int = 10,
    pvc_name: str = "graphkit-data",
    s3_secret: str = "graphkit-s3",
) -> Dataset:
    """Apply a training run's transforms, ID maps and model to new tables; returns the predictions.

    Args:
        input_dir: Folder of the new tables (a path or an s3:// URI), described by ``conf_file``.
        graph_uri: The training pipeline's graph artifact (its URI in the pipeline root).
        model_uri: The training pipeline's model artifact.
        add_reverse_edges: As in training: the model expects the same edge types.
    """
    graph = dsl.importer(artifact_uri=graph_uri, artifact_class=Dataset, reimport=False)
    model = dsl.importer(artifact_uri=model_uri, artifact_class=Model, reimport=False)
    tr = c.apply_transforms(input_dir=input_dir, conf_file=conf_file, trained_graph=graph.output)
    g = c.idmap(transformed=tr.outputs["transformed"], graph_name=graph_name, add_reverse_edges=add_reverse_edges,
                skip_nonexist_edges=skip_nonexist_edges)
    inf = c.infer(graph=g.outputs["graph"], model=model.output, topk=topk)
    for task in (tr, g, inf):
        with_cluster_settings(task, pvc_name, s3_secret)
    return inf.outputs["predictions"]


PIPELINES = {"train": training_pipeline, "infer": inference_pipeline}
