"""The training and inference pipelines, built from the stage components.

Kubernetes specifics are pipeline parameters applied here with ``kfp-kubernetes``, not
baked into components: the PVC with graph data (mounted at :data:`DATA_MOUNT` in every
step), the Secret with S3 credentials (its keys become the standard ``AWS_*`` variables,
every key optional), and for the GPU steps (LM fine-tuning, LM embedding, training,
distillation) the image, GPU type and count, node selector and tolerations. kfp's local
runner ignores them.

The optional stages sit behind boolean switches, each a ``dsl.If``: ``run_partition``,
``lm_finetune``, ``lm_embed`` and ``distill``. The order is transform -> idmap ->
[lm-finetune] -> [lm-embed] -> train -> [distill] -> infer. LM embedding changes the graph
that training reads, and Kubeflow lets a task outside a ``dsl.If`` read an artifact made
inside it only through ``dsl.OneOf`` — which kfp's local runner cannot run (it rejects a
``OneOf`` of artifacts). So the GNN stages (:func:`gnn_stages`: train, [distill], infer) are
placed in each branch that makes a graph for them; exactly one branch runs. Task names
follow: with both LM switches off (the default) the tasks are ``train``/``distill``/``infer``,
the other branches' copies are ``train-2``, ``train-3``, .... For the same reason the training
pipeline returns no artifact; its predictions are the ``predictions`` output of the ``infer``
task that ran.
"""

from typing import Optional

from kfp import dsl, kubernetes
from kfp.dsl import Dataset, Model
from kfp.dsl.pipeline_channel import PipelineChannel

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


def on_gpu_pool(task: dsl.PipelineTask, image: str, gpu_type: str, gpus: int, node_selector: dict,
                tolerations: list) -> dsl.PipelineTask:
    """Run a GPU-capable step on ``image`` with ``gpus`` GPUs, placed by node selector and tolerations."""
    task.set_container_image(image).set_accelerator_type(gpu_type).set_accelerator_limit(gpus)
    # kfp 2.17 does not record the parameters of the accelerator settings as inputs of the task (it does for the
    # image), so a task inside a dsl.If would reference parameters its condition never receives
    task.register_pipeline_channels([v for v in (gpu_type, gpus) if isinstance(v, PipelineChannel)])
    kubernetes.add_node_selector_json(task, node_selector)
    kubernetes.add_toleration_json(task, tolerations)
    return task


def _gpu_step(task: dsl.PipelineTask, p: dict) -> dsl.PipelineTask:
    """A GPU-capable step of the training pipeline: its image, GPUs, placement and cluster settings from ``p``."""
    on_gpu_pool(task, p["train_image"], p["gpu_type"], p["gpus"], p["train_node_selector"], p["train_tolerations"])
    return with_cluster_settings(task, p["pvc_name"], p["s3_secret"])


def gnn_stages(graph: PipelineChannel, p: dict) -> dsl.PipelineTask:
    """train -> [distill] -> infer on ``graph``; ``p`` holds the pipeline's parameters. Returns the infer task."""
    t = _gpu_step(c.train(graph=graph, train_config=p["train_config"], overrides=p["train_overrides"],
                          seed=p["seed"]), p)
    with dsl.If(p["distill"] == True, name="distill-enabled"):  # noqa: E712 (a pipeline condition)
        _gpu_step(c.distill(graph=graph, teacher=t.outputs["model"], student_kind=p["distill_student"],
                            lm_model=p["lm_model"], options=p["distill_options"]), p)
    # on the training step's image and GPUs: with gpus > 0 the GNN layers run on the GPU ("auto")
    return _gpu_step(c.infer(graph=graph, model=t.outputs["model"], topk=p["topk"], device="auto"), p)


def _lm_finetune(graph: PipelineChannel, p: dict) -> dsl.PipelineTask:
    return _gpu_step(c.lm_finetune(graph=graph, lm_model=p["lm_model"], mode=p["lm_finetune_mode"], seed=p["seed"],
                                   options=p["lm_finetune_options"]), p)


def _lm_embed(graph: PipelineChannel, p: dict, finetuned: Optional[PipelineChannel] = None) -> dsl.PipelineTask:
    tuned = {} if finetuned is None else {"finetuned_model": finetuned}  # an artifact input cannot be None
    return _gpu_step(c.lm_embed(graph=graph, lm_model=p["lm_model"], cache_dir=p["lm_cache_dir"],
                                options=p["lm_embed_options"], **tuned), p)


@dsl.pipeline(name="graphkit-train",
              description="Tables -> transform -> idmap -> (partition) -> (LM fine-tune) -> (LM embed) -> GNN train "
                          "-> (distill) -> infer, with graphkit.")
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
    lm_finetune: bool = False,
    lm_embed: bool = False,
    distill: bool = False,
    lm_model: str = "",
    lm_finetune_mode: str = "graph-aware",
    lm_finetune_options: str = "",
    lm_embed_options: str = "",
    lm_cache_dir: str = "",
    distill_student: str = "mlp",
    distill_options: str = "",
    train_overrides: str = "",
    topk: int = 10,
    train_image: str = IMAGE,
    gpu_type: str = "nvidia.com/gpu",
    gpus: int = 0,
    train_node_selector: dict = {},
    train_tolerations: list = [],
    pvc_name: str = "graphkit-data",
    s3_secret: str = "graphkit-s3",
):
    """End-to-end training; the predictions are the ``infer`` task's ``predictions`` output.

    Args:
        input_dir: Folder of the tables: a path (e.g. under /mnt/graphkit, the data PVC) or an s3:// URI.
        train_config: GraphStorm training YAML: a path, an s3:// URI, or the YAML text itself.
        conf_file: gconstruct JSON, relative to ``input_dir`` unless absolute (default: gconstruct.json).
        run_partition: Also partition the graph (kept as an artifact for multi-process training).
        lm_finetune: Fine-tune ``lm_model`` on the graph's text (``graphkit lm-finetune``, ``lm_finetune_mode``
            graph-aware or supervised, more options in ``lm_finetune_options``); with ``lm_embed`` the
            fine-tuned model is the one that embeds.
        lm_embed: Add LM embeddings of the text (tokenize_hf features) as node feature ``lm_emb`` before training
            (``graphkit lm-embed``; options in ``lm_embed_options``, e.g. ``--ntypes paper --batch-size 128``);
            the training YAML names it in ``node_feat_name``.
        distill: Distil the trained GNN into a ``distill_student`` (mlp or lm) that needs no graph
            (``graphkit distill``; options in ``distill_options``).
        lm_model: Hugging Face model folder (e.g. on the data PVC) or hub name, for the LM stages.
        lm_cache_dir: Embedding cache folder shared by runs (e.g. /mnt/graphkit/lm-cache); empty: per step.
        train_overrides: Training options as on the CLI, e.g. ``--num-epochs 3 --lr 0.01``.
        train_image: Image of the GPU steps (LM stages, training, distillation, inference); use the ``-cuda`` tag
            with GPUs.
        gpus: GPUs of each GPU step (of ``gpu_type``; 0 runs on CPU).
        train_node_selector / train_tolerations: Where the GPU steps may run (e.g. a GPU pool).
        pvc_name: PersistentVolumeClaim mounted at /mnt/graphkit in every step.
        s3_secret: Secret whose AWS_* keys (all optional) give the steps S3 credentials.
    """
    p = dict(locals())
    tr = c.transform(input_dir=input_dir, conf_file=conf_file, seed=seed)
    g = c.idmap(transformed=tr.outputs["transformed"], graph_name=graph_name, add_reverse_edges=add_reverse_edges,
                skip_nonexist_edges=skip_nonexist_edges)
    for task in (tr, g):
        with_cluster_settings(task, pvc_name, s3_secret)
    graph = g.outputs["graph"]
    with dsl.If(run_partition == True, name="partition-enabled"):  # noqa: E712 (a pipeline condition, not Python)
        pt = c.partition(graph=graph, num_parts=num_parts, part_method=part_method, seed=seed)
        with_cluster_settings(pt, pvc_name, s3_secret)
    # The trainer is single-process: it reads the whole graph; partitions are for multi-process training.
    with dsl.If(lm_embed == False, name="gnn-on-graph"):  # noqa: E712
        with dsl.If(lm_finetune == True, name="lm-finetune-only"):  # noqa: E712
            _lm_finetune(graph, p)  # the fine-tuned model is kept as an artifact
        gnn_stages(graph, p)
    with dsl.Else(name="gnn-on-lm-embeddings"):
        with dsl.If(lm_finetune == True, name="lm-finetune-then-embed"):  # noqa: E712
            ft = _lm_finetune(graph, p)
            gnn_stages(_lm_embed(graph, p, ft.outputs["model"]).outputs["embedded"], p)
        with dsl.Else(name="lm-embed-pretrained"):
            gnn_stages(_lm_embed(graph, p).outputs["embedded"], p)


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
    infer_image: str = IMAGE,
    gpu_type: str = "nvidia.com/gpu",
    gpus: int = 0,
    node_selector: dict = {},
    tolerations: list = [],
    pvc_name: str = "graphkit-data",
    s3_secret: str = "graphkit-s3",
) -> Dataset:
    """Apply a training run's transforms, ID maps and model to new tables; returns the predictions.

    Args:
        input_dir: Folder of the new tables (a path or an s3:// URI), described by ``conf_file``.
        graph_uri: The training pipeline's graph artifact (its URI in the pipeline root).
        model_uri: The training pipeline's model artifact.
        add_reverse_edges: As in training: the model expects the same edge types.
        infer_image / gpus / gpu_type / node_selector / tolerations: the inference step's image and GPUs (0: CPU;
            with GPUs use the ``-cuda`` tag: the GNN layers then run on the GPU) and where it may run.
    """
    graph = dsl.importer(artifact_uri=graph_uri, artifact_class=Dataset, reimport=False)
    model = dsl.importer(artifact_uri=model_uri, artifact_class=Model, reimport=False)
    tr = c.apply_transforms(input_dir=input_dir, conf_file=conf_file, trained_graph=graph.output)
    g = c.idmap(transformed=tr.outputs["transformed"], graph_name=graph_name, add_reverse_edges=add_reverse_edges,
                skip_nonexist_edges=skip_nonexist_edges)
    inf = on_gpu_pool(c.infer(graph=g.outputs["graph"], model=model.output, topk=topk, device="auto"), infer_image,
                      gpu_type, gpus, node_selector, tolerations)
    for task in (tr, g, inf):
        with_cluster_settings(task, pvc_name, s3_secret)
    return inf.outputs["predictions"]


PIPELINES = {"train": training_pipeline, "infer": inference_pipeline}
