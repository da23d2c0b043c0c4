"""A hierarchy of the topics: average-linkage agglomerative clustering over the
cosine distances of the topics' own representations in the decoder (the
embedding decoder's topic points, the linear decoder's rows of β).

When topics were merged, each merged topic starts as the cluster of its
members, and the distance between two clusters is the mean distance between
their members (average linkage), so the tree of a merged pipeline continues
the tree of the unmerged one.
"""
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy

from .errors import TextVAEError
from .metrics import cosine_similarity


@dataclass
class TopicTreeNode:
    """One node of a `TopicTree`.

    id (int): The node's id: 0 .. n_topics − 1 are the topics (leaves), later
        ids are merges, in the order they were made.
    topics (List[int]): The topics below it (a leaf: its own).
    children (Tuple[int, ...]): The two nodes merged into it; () for a leaf.
    distance (float): The average cosine distance between its children's
        members (0 for a leaf).
    words (List[str]): Top words of the uniform mixture of its topics' word
        distributions, ranked by relevance.
    """

    id: int
    topics: List[int]
    children: Tuple[int, ...] = ()
    distance: float = 0.0
    words: List[str] = field(default_factory=list)

    @property
    def is_leaf(self) -> bool:
        """RETURNS (bool): whether the node is a topic."""
        return not self.children


@dataclass
class TopicTree:
    """A binary hierarchy of topics, root last.

    n_topics (int): The number of topics (leaves).
    nodes (List[TopicTreeNode]): Leaves first (node k is topic k), then the
        merges in order of increasing distance.
    """

    n_topics: int
    nodes: List[TopicTreeNode]

    @property
    def root(self) -> TopicTreeNode:
        """RETURNS (TopicTreeNode): The node holding every topic."""
        return self.nodes[-1]

    def cut(self, n: int) -> List[List[int]]:
        """The groups of topics when merging along the tree stops at `n` groups.

        n (int): Number of groups, 1 .. n_topics.
        RETURNS (List[List[int]]): The groups, each sorted, in the order of their smallest topic.
        """
        if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)) or not 1 <= n <= self.n_topics:
            raise TextVAEError(f"n must be an integer in 1 .. {self.n_topics} (the number of topics), not {n!r}.")
        label = numpy.arange(self.n_topics)
        for node in self.nodes[self.n_topics : self.n_topics + self.n_topics - int(n)]:
            members = node.topics
            label[members] = min(members)
        groups: Dict[int, List[int]] = {}
        for topic, owner in enumerate(label.tolist()):
            groups.setdefault(owner, []).append(topic)
        return [groups[k] for k in sorted(groups)]

    def to_text(self) -> str:
        """The tree as indented text, one node a line, root first.

        RETURNS (str): e.g. "[10] d=0.812 topics 0-5: rocket chef goal".
        """
        lines: List[str] = []
        stack = [(self.root.id, 0)]
        while stack:
            node_id, depth = stack.pop()
            node = self.nodes[node_id]
            words = " ".join(node.words)
            if node.is_leaf:
                lines.append(f"{'  ' * depth}topic {node.topics[0]}: {words}")
            else:
                topics = " ".join(str(t) for t in node.topics)
                lines.append(f"{'  ' * depth}[{node.id}] d={node.distance:.3f} topics {topics}: {words}")
                # Pushed in reverse so the first child is printed first.
                stack.extend((child, depth + 1) for child in reversed(node.children))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def to_dict(self) -> Dict[str, Any]:
        """RETURNS (Dict[str, Any]): {"n_topics", "root", "nodes": [{"id", "topics",
        "children", "distance", "words"}]}, JSON-serialisable."""
        nodes = []
        for node in self.nodes:
            item = asdict(node)
            item["children"] = list(node.children)
            nodes.append(item)
        return {"n_topics": self.n_topics, "root": self.root.id, "nodes": nodes}

    def to_json(self) -> str:
        """RETURNS (str): `to_dict()` as JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "TopicTree":
        """RETURNS (TopicTree): the tree `to_dict` gave."""
        nodes = [
            TopicTreeNode(int(n["id"]), [int(t) for t in n["topics"]], tuple(int(c) for c in n["children"]),
                          float(n["distance"]), [str(w) for w in n["words"]])
            for n in data["nodes"]
        ]
        return cls(int(data["n_topics"]), nodes)


def cosine_distances(vectors: numpy.ndarray) -> numpy.ndarray:
    """RETURNS (numpy.ndarray): float64 (n, n) 1 − cosine similarity of the rows
    (an all-zero row is at distance 1 from every other)."""
    dist = 1.0 - cosine_similarity(vectors)
    numpy.fill_diagonal(dist, 0.0)
    return numpy.clip(dist, 0.0, 2.0)


def average_linkage(
    distances: numpy.ndarray, merge_map: Optional[numpy.ndarray] = None
) -> List[Tuple[int, int, float]]:
    """Average-linkage agglomerative clustering, starting from the groups of a
    merge map (None: each item alone).

    distances (numpy.ndarray): (K, K) distances between the items.
    merge_map (Optional[numpy.ndarray]): (K,) starting cluster of each item.
    RETURNS (List[Tuple[int, int, float]]): the merges (node a, node b,
        distance); nodes 0 .. K' − 1 are the starting clusters, node K' + i
        the i-th merge.
    """
    n_items = distances.shape[0]
    if merge_map is None:
        merge_map = numpy.arange(n_items)
    n_start = int(merge_map.max()) + 1
    fold = numpy.zeros((n_items, n_start))
    fold[numpy.arange(n_items), merge_map] = 1.0
    sizes = fold.sum(axis=0)
    n_nodes = 2 * n_start - 1
    D = numpy.full((n_nodes, n_nodes), numpy.inf)
    D[:n_start, :n_start] = (fold.T @ distances @ fold) / numpy.outer(sizes, sizes)
    numpy.fill_diagonal(D, numpy.inf)
    size = numpy.zeros(n_nodes)
    size[:n_start] = sizes
    merges: List[Tuple[int, int, float]] = []
    for new in range(n_start, n_nodes):
        # The first smallest cell: ties break toward lower node ids, deterministically.
        flat = int(numpy.argmin(D[:new, :new]))
        a, b = divmod(flat, new)
        a, b = min(a, b), max(a, b)
        dist = float(D[a, b])
        merges.append((a, b, dist))
        # Lance-Williams update for average linkage (sizes counted in items).
        row = (size[a] * D[a, :new] + size[b] * D[b, :new]) / (size[a] + size[b])
        D[new, :new] = row
        D[:new, new] = row
        size[new] = size[a] + size[b]
        D[[a, b], :] = numpy.inf
        D[:, [a, b]] = numpy.inf
        D[new, new] = numpy.inf
    return merges


def build_topic_tree(
    vectors: numpy.ndarray,
    log_probs: numpy.ndarray,
    log_frequencies: numpy.ndarray,
    words: Sequence[str],
    *,
    merge_map: Optional[numpy.ndarray] = None,
    top_n: int = 5,
    relevance: float = 0.6,
) -> TopicTree:
    """The topic tree of a model.

    vectors (numpy.ndarray): (K, width) the VAE topics' own representations.
    log_probs (numpy.ndarray): (K, V) log p(word | topic) of the VAE's topics.
    log_frequencies (numpy.ndarray): (V,) log corpus frequency of the words.
    words (Sequence[str]): The topic vocabulary.
    merge_map (Optional[numpy.ndarray]): (K,) merged topic of each VAE topic;
        the tree's leaves are then the merged topics.
    top_n (int): Words per node.
    relevance (float): λ of the relevance ranking of each node's words,
        λ·log p(w | node) + (1 − λ)·log lift: a per-node ranking, where FREX
        would need rival topics.
    RETURNS (TopicTree): The tree.
    """
    n_items = vectors.shape[0]
    if merge_map is None:
        merge_map = numpy.arange(n_items)
    merges = average_linkage(cosine_distances(vectors), merge_map)
    n_leaves = int(merge_map.max()) + 1
    members: List[List[int]] = [[k] for k in range(n_leaves)]
    children: List[Tuple[int, ...]] = [()] * n_leaves
    dists = [0.0] * n_leaves
    for a, b, dist in merges:
        members.append(sorted(members[a] + members[b]))
        children.append((a, b))
        dists.append(dist)
    # Each node's word distribution: the uniform mixture of its VAE topics.
    leaf_of = numpy.zeros((len(members), n_leaves))
    for node, topics in enumerate(members):
        leaf_of[node, topics] = 1.0
    item_of = leaf_of[:, merge_map]
    item_of /= item_of.sum(axis=1, keepdims=True)
    probs = item_of @ numpy.exp(numpy.asarray(log_probs, dtype="float64"))
    scores = numpy.log(numpy.maximum(probs, 1e-300)) - (1.0 - relevance) * numpy.asarray(log_frequencies)[None, :]
    top_n = max(0, min(int(top_n), scores.shape[1]))
    order = numpy.argsort(-scores, axis=1, kind="stable")[:, :top_n]
    nodes = [
        TopicTreeNode(i, members[i], children[i], dists[i], [words[j] for j in order[i]])
        for i in range(len(members))
    ]
    return TopicTree(n_leaves, nodes)
