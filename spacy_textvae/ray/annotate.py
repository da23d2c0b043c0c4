"""Batch annotation of a Ray Dataset: a pool of actors, each loading the
pipeline once, turns a text column into the textvae columns."""
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy

from ..errors import TextVAEError
from ..extensions import DOC_EXTENSIONS
from ._ray import cluster_resource, require_ray

logger = logging.getLogger("spacy_textvae")

OUTPUT_COLUMNS = DOC_EXTENSIONS
VECTOR_COLUMNS = ("latent", "topics", "cluster_probs")
DEFAULT_BATCH_SIZE = 256


def textvae_component_name(nlp: Any, component: Optional[str]) -> str:
    """RETURNS (str): `component`, checked, or the first textvae component of nlp."""
    names = [n for n in nlp.component_names if nlp.get_pipe_meta(n).factory == "textvae"]
    if component is None:
        if not names:
            raise TextVAEError(f"The pipeline has no textvae component (its components: {nlp.component_names}).")
        return names[0]
    if component not in names:
        raise TextVAEError(f"component={component!r} is not a textvae component of the pipeline; its textvae components: {names}.")
    return component


class TextVAEAnnotator:
    """The callable class Ray Data runs in each actor: it loads the pipeline
    once, then maps batches of texts to the textvae columns.

    model (str): Pipeline directory or package name.
    text_column (str): The column with the texts.
    component (Optional[str]): The textvae component to read (default: the first).
    pipe_batch_size (int): `nlp.pipe` batch size inside the actor.
    keep_columns (bool): Also return the input columns (the text column included).
    n_threads (Optional[int]): torch threads in the actor (default: its CPUs).
    """

    def __init__(
        self,
        model: str,
        text_column: str,
        component: Optional[str] = None,
        pipe_batch_size: int = DEFAULT_BATCH_SIZE,
        keep_columns: bool = True,
        n_threads: Optional[int] = None,
    ) -> None:
        import spacy
        import torch

        ray = require_ray()
        # Ray sets CUDA_VISIBLE_DEVICES to the actor's GPUs: the first is this actor's.
        # The torch device is fixed when the model is built, so this comes first.
        if ray.get_gpu_ids():
            spacy.require_gpu(0)
        # One torch thread per CPU the actor holds: more would oversubscribe the
        # cores that the other actors and the read/write tasks hold.
        torch.set_num_threads(max(1, n_threads or int(os.environ.get("OMP_NUM_THREADS", "1") or 1)))
        self.nlp = spacy.load(model)
        self.name = textvae_component_name(self.nlp, component)
        self.names = self.nlp.get_pipe(self.name).extension_names
        self.text_column = text_column
        self.pipe_batch_size = int(pipe_batch_size)
        self.keep_columns = keep_columns

    def __call__(self, batch: Any) -> Any:
        if self.text_column not in batch.column_names:
            raise TextVAEError(
                f"The dataset has no column {self.text_column!r} (its columns: {sorted(batch.column_names)}). "
                "Pass text_column= (--text-column) with the column that holds the texts."
            )
        texts = ["" if t is None else str(t) for t in batch.column(self.text_column).to_pylist()]
        columns = annotate_texts(self.nlp, texts, self.names, self.pipe_batch_size)
        return to_arrow(columns, batch if self.keep_columns else None)


def annotate_texts(nlp: Any, texts: List[str], names: Dict[str, str], batch_size: int) -> Dict[str, numpy.ndarray]:
    """Run nlp over texts and gather the textvae values as columns.

    nlp (Language): The pipeline.
    texts (List[str]): The texts.
    names (Dict[str, str]): The component's extension names (`TextVAE.extension_names`).
    batch_size (int): `nlp.pipe` batch size.
    RETURNS (Dict[str, numpy.ndarray]): latent, topics, cluster_probs (float32,
        one row per text) and cluster (int64).
    """
    out: Dict[str, List[Any]] = {name: [] for name in OUTPUT_COLUMNS}
    for doc in nlp.pipe(texts, batch_size=batch_size):
        for name in OUTPUT_COLUMNS:
            out[name].append(getattr(doc._, names[name]))
    result: Dict[str, numpy.ndarray] = {}
    for name in VECTOR_COLUMNS:
        result[name] = numpy.stack(out[name]).astype("float32") if texts else numpy.zeros((0, 1), "float32")
    result["cluster"] = numpy.asarray(out["cluster"], dtype="int64")
    return result


def to_arrow(columns: Dict[str, numpy.ndarray], batch: Any = None) -> Any:
    """The columns as an Arrow table: vectors as fixed-size lists of float32,
    which any Parquet reader reads (no Ray-specific tensor type), after the
    columns of `batch` (an Arrow table) when given; a column of `batch` with
    an output column's name is replaced."""
    import pyarrow as pa

    table = pa.table({}) if batch is None else batch.drop_columns([c for c in OUTPUT_COLUMNS if c in batch.column_names])
    for name in OUTPUT_COLUMNS:
        values = columns[name]
        if values.ndim == 2:
            array = pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])
        else:
            array = pa.array(values)
        table = table.append_column(name, array) if table.num_columns else pa.table({name: array})
    return table


def default_concurrency(num_gpus: Optional[float], num_cpus: float) -> int:
    """The size of the actor pool: with GPUs, one actor per `num_gpus` of the
    cluster's GPUs; on CPUs, one actor per `num_cpus` CPUs but one CPU's worth,
    left to the tasks that read and write the data (with every CPU held by an
    actor, the read task never runs and the pipeline stalls)."""
    if num_gpus:
        gpus = cluster_resource("GPU")
        if gpus < num_gpus:
            raise TextVAEError(
                f"num_gpus={num_gpus} per actor, but the Ray cluster has {gpus:g} GPUs. "
                "Pass num_gpus=None to annotate on CPUs, or start Ray with GPUs."
            )
        return max(1, int(gpus // num_gpus))
    cpus = cluster_resource("CPU")
    return max(1, int((cpus - 1) // num_cpus))


def annotate(
    dataset: Any,
    model: Union[str, Path],
    text_column: str = "text",
    *,
    component: Optional[str] = None,
    concurrency: Optional[int] = None,
    num_gpus: Optional[float] = None,
    num_cpus: float = 1.0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    keep_columns: bool = True,
) -> Any:
    """Annotate a Ray Dataset of texts with a trained textvae pipeline, in a pool
    of Ray actors that each load the pipeline once. Lazy, as Ray Data is: the
    work runs when the result is consumed or written.

    dataset (ray.data.Dataset): The texts, one row each.
    model (Union[str, Path]): Pipeline directory (readable from every node) or
        installed package name.
    text_column (str): The column with the texts.
    component (Optional[str]): The textvae component (default: the first).
    concurrency (Optional[int]): Number of actors. Default: one per `num_gpus`
        of the cluster's GPUs when `num_gpus` is given, else one per `num_cpus`
        of the cluster's CPUs less one CPU kept for reading and writing.
    num_gpus (Optional[float]): GPUs per actor (None: CPU only).
    num_cpus (float): CPUs per actor (also its torch threads).
    batch_size (int): Rows per batch handed to an actor (and its `nlp.pipe` batch size).
    keep_columns (bool): Keep the input columns beside the new ones.
    RETURNS (ray.data.Dataset): The columns latent, topics, cluster_probs
        (float32 vectors), cluster (int64), and the input columns if kept.
    """
    ray = require_ray()
    if concurrency is not None and concurrency < 1:
        raise TextVAEError(f"concurrency must be >= 1 (actors), not {concurrency}.")
    if num_cpus <= 0:
        raise TextVAEError(f"num_cpus must be > 0 (CPUs per actor), not {num_cpus}.")
    if batch_size < 1:
        raise TextVAEError(f"batch_size must be >= 1, not {batch_size}.")
    schema = dataset.schema(fetch_if_missing=False)
    if schema is not None and text_column not in schema.names:
        raise TextVAEError(
            f"The dataset has no column {text_column!r} (its columns: {sorted(schema.names)}). "
            "Pass text_column= (--text-column) with the column that holds the texts."
        )
    if Path(model).exists():
        # Actors may not share the driver's working directory.
        model = Path(model).resolve()
    if concurrency is None:
        concurrency = default_concurrency(num_gpus, num_cpus)
    logger.info("textvae: annotating with %d actor(s), %s CPU(s) and %s GPU(s) each", concurrency, num_cpus, num_gpus or 0)
    kwargs: Dict[str, Any] = {"num_cpus": num_cpus}
    if num_gpus:
        kwargs["num_gpus"] = num_gpus
    return dataset.map_batches(
        TextVAEAnnotator,
        fn_constructor_kwargs={
            "model": str(model),
            "text_column": text_column,
            "component": component,
            "pipe_batch_size": batch_size,
            "keep_columns": keep_columns,
            "n_threads": max(1, int(num_cpus)),
        },
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=concurrency),
        **kwargs,
    )


def read_texts(path: Union[str, Path]) -> Any:
    """Read a JSONL (.jsonl, .json, optionally .gz) or Parquet file, or a folder
    of them, as a Ray Dataset.

    path (Union[str, Path]): The input.
    RETURNS (ray.data.Dataset): Its rows.
    """
    ray = require_ray()
    path = Path(path)
    if not path.exists():
        raise TextVAEError(f"The input {path} does not exist: pass a JSONL or Parquet file or folder.")
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    kinds = {_kind(p) for p in files}
    if kinds == {"parquet"}:
        return ray.data.read_parquet(str(path))
    if kinds == {"jsonl"}:
        return ray.data.read_json(str(path), lines=True)
    raise TextVAEError(
        f"Cannot read {path}: expected JSONL (.jsonl, .json, optionally .gz) or Parquet (.parquet) "
        f"files only, not {sorted(kinds)}."
    )


def _kind(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    return Path(name).suffix or name
