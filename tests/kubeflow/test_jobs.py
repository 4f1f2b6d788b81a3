"""PyTorchJob / TrainJob rendering, validated offline against the strict CRD schemas; the launcher's logic."""

import copy
import os
import subprocess
import sys

import jsonschema
import pytest
import yaml

from graphkit.cli.main import build_parser, main
from graphkit.errors import GraphkitError
from graphkit.kubeflow.jobs import JobSpec, Volume, render_pytorchjob, render_trainjob
from graphkit.kubeflow.launcher import job_state, run_local, torchrun_command

STAGE = ["train", "--part-config", "/mnt/graphkit/graph", "--cf", "/mnt/graphkit/train.yaml"]


def big_spec(**kw) -> JobSpec:
    return JobSpec(name="shop-train", image="ghcr.io/graphkit/graphkit:0.1.0-cuda", args=STAGE, workers=3,
                   gpus_per_worker=4, cpu="16", memory="64Gi", env={"NCCL_DEBUG": "INFO"}, secret_env="graphkit-s3",
                   volumes=[Volume("graphkit-data", "/mnt/graphkit")], node_selector={"pool": "a100"},
                   tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                   service_account="graphkit", ttl_seconds_after_finished=3600, **kw)


def test_pytorchjob_has_master_workers_gpus_and_bare_torchrun(validate_k8s):
    job = render_pytorchjob(big_spec())
    validate_k8s(job)
    reps = job["spec"]["pytorchReplicaSpecs"]
    assert (reps["Master"]["replicas"], reps["Worker"]["replicas"]) == (1, 2)
    assert job["spec"]["nprocPerNode"] == "4"
    for rep in reps.values():
        pod = rep["template"]["spec"]
        (c,) = pod["containers"]
        assert c["name"] == "pytorch"
        assert c["command"] == ["torchrun", "-m", "graphkit.cli.main", *STAGE]  # no rendezvous flags: PET_* do it
        assert c["resources"]["limits"] == {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": 4}
        assert c["env"] == [{"name": "NCCL_DEBUG", "value": "INFO"}]
        assert c["envFrom"] == [{"secretRef": {"name": "graphkit-s3", "optional": True}}]
        assert pod["nodeSelector"] == {"pool": "a100"} and pod["tolerations"][0]["key"] == "nvidia.com/gpu"
        assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "graphkit-data"


def test_one_worker_pytorchjob_has_only_a_master(validate_k8s):
    job = render_pytorchjob(JobSpec(name="tiny", image="img:1", args=["info", "/g"]))
    validate_k8s(job)
    assert list(job["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    assert "resources" not in job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]


def test_unknown_fields_are_rejected(validate_k8s):
    job = render_pytorchjob(big_spec())
    bad = copy.deepcopy(job)
    bad["spec"]["runPolicy"]["cleanupPolicy"] = "All"  # a typo of cleanPodPolicy
    with pytest.raises(jsonschema.ValidationError, match="cleanupPolicy"):
        validate_k8s(bad)
    bad = copy.deepcopy(job)
    bad["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["gpus"] = 4
    with pytest.raises(Exception, match="gpus"):
        validate_k8s(bad)
    bad = copy.deepcopy(job)
    bad["spec"]["pytorchReplicaSpecs"]["Chief"] = bad["spec"]["pytorchReplicaSpecs"]["Worker"]
    with pytest.raises(jsonschema.ValidationError, match="Chief"):
        validate_k8s(bad)


def test_trainjob_from_the_same_spec(validate_k8s):
    job = render_trainjob(big_spec())
    validate_k8s(job)
    t = job["spec"]["trainer"]
    assert (t["numNodes"], t["numProcPerNode"]) == (3, 4)
    assert t["command"][:3] == ["torchrun", "-m", "graphkit.cli.main"]
    assert t["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == 4
    (override,) = job["spec"]["templateOverrides"][0]["pod"]
    assert override["targetJobs"] == [{"name": "node"}] and override["spec"]["nodeSelector"] == {"pool": "a100"}


def test_bad_names_and_sizes_are_user_errors():
    with pytest.raises(GraphkitError, match="DNS label"):
        JobSpec(name="Shop_Train", image="i", args=STAGE)
    with pytest.raises(GraphkitError, match="workers >= 1"):
        JobSpec(name="x", image="i", args=STAGE, workers=0)


def test_launch_render_prints_the_resource(capsys):
    assert main(["launch", "--render", "--name", "t1", "--workers", "2", "--gpus-per-worker", "1",
                 "--node-selector", "pool=gpu", "--toleration", '{"key": "g", "operator": "Exists"}',
                 "--pvc", "graphkit-data:/mnt/graphkit", "--", *STAGE]) == 0
    job = yaml.safe_load(capsys.readouterr().out)
    assert job["kind"] == "PyTorchJob" and job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    assert job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["image"].endswith("-cuda")
    args = build_parser().parse_args(["launch", "--kind", "trainjob", "--render", "--", *STAGE])
    assert args.stage[-len(STAGE):] == STAGE


def test_job_state_follows_conditions():
    def obj(*conds):
        return {"status": {"conditions": [{"type": t, "status": s, "reason": r, "message": m}
                                          for t, s, r, m in conds]}}

    assert job_state({}, "pytorchjob").phase == "pending"
    assert job_state(obj(("Created", "True", "Created", "")), "pytorchjob").phase == "pending"
    assert job_state(obj(("Created", "True", "", ""), ("Running", "True", "", "")), "pytorchjob").phase == "running"
    done = job_state(obj(("Running", "False", "", ""), ("Succeeded", "True", "Done", "ok")), "pytorchjob")
    assert done.phase == "succeeded"
    failed = job_state(obj(("Running", "False", "", ""),
                           ("Failed", "True", "BackoffLimitExceeded", "pod x: OOMKilled")), "pytorchjob")
    assert (failed.phase, failed.reason, failed.message) == ("failed", "BackoffLimitExceeded", "pod x: OOMKilled")
    assert job_state(obj(("Complete", "True", "", "")), "trainjob").phase == "succeeded"


TRAIN = [*STAGE, "--save-model-path", "/mnt/graphkit/model"]


def _containers(job: dict) -> list[dict]:
    return [rep["template"]["spec"]["containers"][0] for rep in job["spec"]["pytorchReplicaSpecs"].values()]


def test_n_pods_by_k_cpu_processes_resume_after_restarts(validate_k8s):
    spec = JobSpec(name="cpu-train", image="img:1", args=TRAIN, workers=3, nproc_per_worker=4, max_restarts=2,
                   volumes=[Volume("graphkit-data", "/mnt/graphkit")], shm_size="8Gi")
    assert spec.world_size == 12
    job = render_pytorchjob(spec)
    validate_k8s(job)
    reps = job["spec"]["pytorchReplicaSpecs"]
    assert (reps["Master"]["replicas"], reps["Worker"]["replicas"], job["spec"]["nprocPerNode"]) == (1, 2, "4")
    assert job["spec"]["runPolicy"]["backoffLimit"] == 2
    assert all(rep["restartPolicy"] == "OnFailure" for rep in reps.values())
    for rep in reps.values():
        pod = rep["template"]["spec"]
        (c,) = pod["containers"]
        # several pods: the operator restarts failed pods; torchrun gets no --max-restarts (static rendezvous)
        assert c["command"] == ["torchrun", "-m", "graphkit.cli.main", *TRAIN, "--resume"]
        assert "resources" not in c
        assert {"name": "dshm", "mountPath": "/dev/shm"} in c["volumeMounts"]
        assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "8Gi"}} in pod["volumes"]


def test_one_pod_restarts_its_processes_in_place(validate_k8s):
    spec = JobSpec(name="one-pod", image="img:1", args=TRAIN + ["--resume"], nproc_per_worker=2, max_restarts=1,
                   volumes=[Volume("graphkit-data", "/mnt/graphkit")])
    job = render_pytorchjob(spec)
    validate_k8s(job)
    (c,) = _containers(job)
    assert c["command"] == ["torchrun", "--max-restarts=1", "-m", "graphkit.cli.main", *TRAIN, "--resume"]
    assert list(job["spec"]["pytorchReplicaSpecs"]) == ["Master"] and job["spec"]["nprocPerNode"] == "2"
    single = render_pytorchjob(JobSpec(name="one", image="img:1", args=TRAIN, volumes=spec.volumes))
    (c,) = _containers(single)
    assert c["command"] == ["torchrun", "-m", "graphkit.cli.main", *TRAIN]  # no restarts: no --resume
    assert [v["name"] for v in single["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["volumes"]] \
        == ["data-0"]  # one process per pod: no /dev/shm volume


def test_trainjob_n_nodes_by_k_gpus(validate_k8s):
    job = render_trainjob(big_spec(max_restarts=3))
    validate_k8s(job)
    t = job["spec"]["trainer"]
    assert (t["numNodes"], t["numProcPerNode"]) == (3, 4)
    assert t["command"] == ["torchrun", "-m", "graphkit.cli.main", *STAGE, "--resume"]
    (override,) = job["spec"]["templateOverrides"][0]["pod"]
    mounts = override["spec"]["containers"][0]["volumeMounts"]
    assert [m["mountPath"] for m in mounts] == ["/mnt/graphkit", "/dev/shm"]


def test_restarted_or_spread_training_must_checkpoint_to_a_volume():
    with pytest.raises(GraphkitError, match="not on a mounted volume"):
        JobSpec(name="x", image="i", args=[*STAGE, "--save-model-path", "/tmp/model"], workers=2)
    with pytest.raises(GraphkitError, match="not on a mounted volume"):
        JobSpec(name="x", image="i", args=[*STAGE, "--save-model-path=/tmp/model"], max_restarts=1)
    JobSpec(name="x", image="i", args=[*STAGE, "--save-model-path", "/tmp/model"])  # one pod, no restarts
    JobSpec(name="x", image="i", args=TRAIN, workers=2, volumes=[Volume("c", "/mnt/graphkit")])
    JobSpec(name="x", image="i", args=["info", "/g"], workers=2)
    with pytest.raises(GraphkitError, match="one process per GPU"):
        JobSpec(name="x", image="i", args=STAGE, gpus_per_worker=2, nproc_per_worker=4)


def test_launch_cli_renders_n_by_k_and_runs_torchrun_locally(capsys):
    assert main(["launch", "--render", "--name", "t2", "--workers", "2", "--nproc-per-worker", "3",
                 "--pvc", "graphkit-data:/mnt/graphkit", "--", *TRAIN]) == 0
    job = yaml.safe_load(capsys.readouterr().out)
    assert job["spec"]["nprocPerNode"] == "3" and job["spec"]["runPolicy"]["backoffLimit"] == 3  # default
    assert _containers(job)[0]["command"][-1] == "--resume"
    assert torchrun_command(["train", "--cf", "x"], 2, max_restarts=1)[3:] == [
        "--standalone", "--nproc-per-node=2", "--max-restarts=1", "-m", "graphkit.cli.main", "train", "--cf", "x",
        "--resume"]
    assert torchrun_command(["info", "/g"], 2)[-2:] == ["info", "/g"]
    with pytest.raises(GraphkitError, match="nproc-per-node >= 1"):
        run_local(["info", "/nowhere"], nproc_per_node=0)


def test_local_launch_runs_a_stage_under_torchrun(tmp_path, shop_tables):
    tables, conf, _ = shop_tables
    graph = str(tmp_path / "graph")
    assert main(["--log-level", "warning", "construct", "--conf-file", conf, "--output-dir", graph]) == 0
    cmd = torchrun_command(["info", graph])
    assert cmd[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=1"]
    res = subprocess.run([sys.executable, "-m", "graphkit.cli.main", "launch", "--local", "--", "info", graph],
                         capture_output=True, text=True, cwd=os.path.dirname(graph))
    assert res.returncode == 0, res.stderr
    assert "105 nodes in 3 type(s)" in res.stdout
