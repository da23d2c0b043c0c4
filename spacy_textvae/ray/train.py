"""Data-parallel training with Ray Train: N workers, each on its own shard of
the training corpus, run spaCy's training loop on identical copies of the
pipeline; every step's gradients are averaged through torch.distributed
before thinc's optimizer updates each copy (see `distributed`)."""
import io
import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

import srsly

from ..errors import TextVAEError
from ._ray import require_ray

logger = logging.getLogger("spacy_textvae")

HISTORY_FILE = "history.json"
StepCallback = Callable[[Any, Dict[str, Any], int], None]


class Shard:
    """The examples of a corpus that one worker trains on: every `world`-th,
    from the `rank`-th, with all shards the same size (the last
    len(corpus) % world examples are left out), so that every worker has the
    same number of batches per epoch.

    corpus (Callable[[Language], Iterable[Example]]): The corpus reader.
    rank (int): This worker's rank.
    world (int): The number of workers.
    n_examples (int): The corpus's size.
    """

    def __init__(self, corpus: Callable[[Any], Iterable[Any]], rank: int, world: int, n_examples: int) -> None:
        self.corpus = corpus
        self.rank = rank
        self.world = world
        self.end = (n_examples // world) * world

    def __call__(self, nlp: Any) -> Iterable[Any]:
        for i, eg in enumerate(self.corpus(nlp)):
            if i >= self.end:
                return
            if i % self.world == self.rank:
                yield eg


def train(
    config_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    num_workers: int = 2,
    overrides: Optional[Dict[str, Any]] = None,
    use_gpu: bool = False,
    cpus_per_worker: float = 1.0,
    storage_path: Optional[Union[str, Path]] = None,
    code_path: Optional[Union[str, Path]] = None,
    step_callback: Optional[StepCallback] = None,
) -> Dict[str, Any]:
    """Train the pipeline of a spaCy config on `num_workers` Ray Train workers
    and save model-best and model-last under `output_path`, as `spacy train`
    does. The config's batch size is per worker: the global batch is
    `num_workers` times it. Uses the running Ray instance, or starts a local one.

    config_path (Union[str, Path]): The training config.
    output_path (Union[str, Path]): Directory for model-best and model-last
        (written by worker 0, so on a cluster give a path every node can reach,
        or read it from worker 0's node).
    num_workers (int): Number of workers.
    overrides (Optional[Dict[str, Any]]): Config overrides, e.g. {"paths.train": "corpus/train.spacy"}.
    use_gpu (bool): One GPU per worker (NCCL); else CPUs (gloo).
    cpus_per_worker (float): CPUs per worker (also its torch threads).
    storage_path (Optional[Union[str, Path]]): Where Ray Train keeps its run
        files; default: a temporary directory removed afterwards (nothing goes
        to ~/ray_results).
    code_path (Optional[Union[str, Path]]): A Python file with registered
        functions the config uses, imported in every worker (`spacy train --code`).
    step_callback (Optional[Callable[[Language, Dict[str, Any], int], None]]):
        Called in every worker after every step with the pipeline, the step's
        info (step, loss: the mean loss over all workers) and the worker's rank.
    RETURNS (Dict[str, Any]): "losses" (the mean loss of each step over all
        workers), "scores" ((step, score) of each evaluation) and "output_path".
    """
    ray = require_ray()
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if num_workers < 1:
        raise TextVAEError(f"num_workers must be >= 1, not {num_workers}.")
    config_path = Path(config_path).resolve()
    if not config_path.exists():
        raise TextVAEError(f"The config {config_path} does not exist.")
    output_path = Path(output_path).resolve()
    output_path.mkdir(parents=True, exist_ok=True)
    if code_path is not None:
        code_path = Path(code_path).resolve()
        if not code_path.exists():
            raise TextVAEError(f"The code file {code_path} does not exist: pass the Python file with your registered functions.")
    if not ray.is_initialized():
        ray.init()
    own_storage = storage_path is None
    storage = Path(tempfile.mkdtemp(prefix="textvae-ray-train-")) if own_storage else Path(storage_path).resolve()
    loop_config = {
        "config_path": str(config_path),
        "overrides": {k: v for k, v in (overrides or {}).items()},
        "output_path": str(output_path),
        "threads": max(1, int(cpus_per_worker)),
        "use_gpu": bool(use_gpu),
        "code_path": None if code_path is None else str(code_path),
        "step_callback": step_callback,
    }
    trainer = TorchTrainer(
        train_worker,
        train_loop_config=loop_config,
        scaling_config=ScalingConfig(
            num_workers=num_workers, use_gpu=use_gpu, resources_per_worker={"CPU": cpus_per_worker, **({"GPU": 1} if use_gpu else {})}
        ),
        run_config=RunConfig(name="textvae", storage_path=str(storage)),
    )
    try:
        try:
            result = trainer.fit()
        except Exception as e:
            raise _user_error(e) from e
        summary = {}
        if result.checkpoint is not None:
            with result.checkpoint.as_directory() as directory:
                summary = srsly.read_json(Path(directory) / HISTORY_FILE)
    finally:
        if own_storage:
            shutil.rmtree(storage, ignore_errors=True)
    return {"losses": summary.get("losses", []), "scores": summary.get("scores", []), "output_path": str(output_path)}


def _user_error(error: Exception) -> Exception:
    """A worker's TextVAEError (which Ray wraps in its own error, traceback
    included) as a TextVAEError of its own message; any other error as it is."""
    lines = [line.strip() for line in str(error).splitlines() if "[textvae]" in line]
    if not lines:
        return error
    message = lines[-1]
    return TextVAEError(message[message.index("[textvae]"):])


def train_worker(loop_config: Dict[str, Any]) -> None:
    """What each Ray Train worker runs: `training_loop` in the process group
    Ray Train set up, then a report of the run (worker 0's with the loss
    history, as a checkpoint: Ray Train keeps a run's checkpoints)."""
    import ray.train

    ctx = ray.train.get_context()
    rank = ctx.get_world_rank()
    if loop_config["use_gpu"]:
        import ray.train.torch
        import torch

        # This worker's GPU, which `training_loop` reads as the current device.
        torch.cuda.set_device(ray.train.torch.get_device())
    summary = training_loop(loop_config, rank, ctx.get_world_size())
    if rank == 0:
        with tempfile.TemporaryDirectory() as tmp:
            srsly.write_json(Path(tmp) / HISTORY_FILE, summary)
            ray.train.report({"steps": summary["steps"]}, checkpoint=ray.train.Checkpoint.from_directory(tmp))
    else:
        ray.train.report({"steps": summary["steps"]})


def training_loop(loop_config: Dict[str, Any], rank: int, world: int) -> Dict[str, Any]:
    """One worker's training in an initialised torch.distributed process group:
    spaCy's training loop (`train_while_improving`) on this worker's shard,
    with the gradient-averaging optimizer; worker 0 evaluates (the others get
    its scores, so all stop at the same step), logs and saves.

    loop_config (Dict[str, Any]): What `train` passes (config, overrides, output path, ...).
    rank (int): This worker's rank.
    world (int): The number of workers.
    RETURNS (Dict[str, Any]): "losses" (per step, mean over the workers), "scores", "steps".
    """
    import spacy
    import torch
    from spacy import util
    from spacy.schemas import ConfigSchemaTraining
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import (
        DIR_MODEL_BEST,
        DIR_MODEL_LAST,
        clean_output_dir,
        create_before_to_disk_callback,
        create_evaluation_callback,
        create_train_batches,
        train_while_improving,
        update_meta,
    )
    from spacy.util import registry, resolve_dot_names
    import torch.distributed as dist

    from .distributed import AllReduceOptimizer, StateSync, all_equal, broadcast_weights, collective_device, synchronised

    if loop_config.get("code_path"):
        util.import_file("textvae_ray_code", loop_config["code_path"])
    torch.set_num_threads(loop_config["threads"])
    gpu_id = -1
    if loop_config["use_gpu"]:
        # Before the pipeline is built: the torch device is fixed then.
        gpu_id = torch.cuda.current_device()
        spacy.require_gpu(gpu_id)
    config = util.load_config(loop_config["config_path"], overrides=loop_config["overrides"], interpolate=False)
    # Every worker builds the pipeline from the whole training corpus (the topic
    # vocabulary is data-derived), with the config's seed.
    nlp = init_nlp(config, use_gpu=gpu_id)
    vocabularies = "\n".join(
        " ".join(proc.topic_vocab.words) for _, proc in nlp.pipeline if hasattr(proc, "topic_vocab")
    )
    if not all_equal(vocabularies):
        raise TextVAEError(
            "The workers built different topic vocabularies from the training corpus: every worker "
            "must read the same [paths.train] (a path all nodes can reach, with the same files)."
        )
    # Initial weights identical whatever each worker's random state.
    broadcast_weights(nlp, 0)

    interpolated = nlp.config.interpolate()
    if interpolated["training"]["seed"] is not None:
        util.fix_random_seed(interpolated["training"]["seed"])
    T = registry.resolve(interpolated["training"], schema=ConfigSchemaTraining)
    train_corpus, dev_corpus = resolve_dot_names(interpolated, [T["train_corpus"], T["dev_corpus"]])
    n_examples = sum(1 for _ in train_corpus(nlp))
    if n_examples < world:
        raise TextVAEError(f"The training corpus has {n_examples} docs, fewer than the {world} workers: use fewer workers.")
    shard = Shard(train_corpus, rank, world, n_examples)
    optimizer = AllReduceOptimizer(T["optimizer"], on_step=StateSync(nlp))
    evaluate_here = create_evaluation_callback(nlp, dev_corpus, T["score_weights"])

    def evaluate():
        box: List[Any] = [evaluate_here() if rank == 0 else None]
        dist.broadcast_object_list(box, 0)
        return box[0]

    output_path = Path(loop_config["output_path"]) if rank == 0 else None
    before_to_disk = create_before_to_disk_callback(T["before_to_disk"])

    def save_checkpoint(is_best: bool) -> None:
        with nlp.use_params(optimizer.averages):
            before_to_disk(nlp).to_disk(output_path / DIR_MODEL_LAST)
        if is_best:
            if (output_path / DIR_MODEL_BEST).exists():
                shutil.rmtree(output_path / DIR_MODEL_BEST)
            shutil.copytree(output_path / DIR_MODEL_LAST, output_path / DIR_MODEL_BEST)

    frozen = T["frozen_components"]
    steps = train_while_improving(
        nlp,
        optimizer,
        synchronised(create_train_batches(nlp, shard, T["batcher"], T["max_epochs"])),
        evaluate,
        dropout=T["dropout"],
        accumulate_gradient=T["accumulate_gradient"],
        patience=T["patience"],
        max_steps=T["max_steps"],
        eval_frequency=T["eval_frequency"],
        exclude=frozen,
        annotating_components=T["annotating_components"],
        before_update=T["before_update"],
    )
    stdout: Any = sys.stdout if rank == 0 else io.StringIO()
    with nlp.select_pipes(disable=frozen):
        log_step, finalize_logger = T["logger"](nlp, stdout, sys.stderr if rank == 0 else io.StringIO())
    if output_path is not None:
        clean_output_dir(output_path)
        logger.info("textvae: training on %d workers, %d docs each", world, n_examples // world)
    names = sorted(n for n in nlp.pipe_names if n not in frozen)
    device = collective_device()
    losses_seen: Optional[Dict[str, float]] = None
    previous: Dict[str, float] = {}
    global_losses = {n: 0.0 for n in names}
    history: List[float] = []
    scores: List[List[float]] = []
    step_callback = loop_config.get("step_callback")
    try:
        for batch, info, is_best in steps:
            if info["losses"] is not losses_seen:
                losses_seen, previous = info["losses"], {}
            local = torch.tensor([info["losses"].get(n, 0.0) - previous.get(n, 0.0) for n in names], dtype=torch.float64, device=device)
            previous = dict(info["losses"])
            dist.all_reduce(local, op=dist.ReduceOp.SUM)
            step_loss = (local / world).tolist()
            for n, value in zip(names, step_loss):
                global_losses[n] += value
            history.append(float(sum(step_loss)))
            info = {**info, "losses": dict(global_losses)}
            if step_callback is not None:
                step_callback(nlp, {"step": info["step"], "loss": history[-1]}, rank)
            if is_best is not None:
                scores.append([info["step"], info["score"]])
                with nlp.select_pipes(disable=frozen):
                    update_meta(T, nlp, info)
                if output_path is not None:
                    save_checkpoint(is_best)
                    info["output_path"] = str(output_path / DIR_MODEL_LAST)
                global_losses = {n: 0.0 for n in names}
            log_step(info if is_best is not None else None)
    finally:
        finalize_logger()
        if output_path is not None:
            save_checkpoint(False)
    return {"losses": history, "scores": scores, "steps": len(history)}
