"""Merging topics in place: folded doc and token topics, merged topic words,
clusters untouched, and a merge map that saves and loads with the pipeline."""
import numpy
import pytest
import spacy
import srsly

from spacy_textvae.errors import TextVAEError
from spacy_textvae.topic_merge import compose, expand_topics, fold_matrix, merge_assignment, merged_log_probs
from spacy_textvae.topic_words import ranking_scores

from .conftest import SMALL_CONFIG

GROUPS = [[0, 3], [1, 4, 5]]


def copy_of(nlp):
    new = spacy.blank("en")
    new.add_pipe("textvae", config=SMALL_CONFIG)
    new.from_bytes(nlp.to_bytes())
    return new


@pytest.fixture()
def merged(trained):
    nlp, _ = trained
    new = copy_of(nlp)
    new.get_pipe("textvae").merge_topics(GROUPS)
    return new


@pytest.fixture(scope="module")
def texts(corpus):
    return corpus[0][:20]


def test_merge_assignment_numbers_groups_by_smallest_member():
    assert merge_assignment(GROUPS, 6).tolist() == [0, 1, 2, 0, 1, 1]
    assert merge_assignment([[5, 2]], 6).tolist() == [0, 1, 2, 3, 4, 2]
    assert merge_assignment([], 3).tolist() == [0, 1, 2]
    assert compose(numpy.array([0, 1, 2, 0, 1, 1]), numpy.array([0, 0, 1])).tolist() == [0, 0, 1, 0, 0, 0]


@pytest.mark.parametrize(
    "groups,message",
    [
        ([[0, 6]], "Unknown topic 6 in group 0"),
        ([[0, -1]], "Unknown topic -1"),
        ([[0, 1], [1, 2]], "Topic 1 is in two groups"),
        ([[]], "Group 0 of merge_topics is \\[\\]"),
        ([[0, "1"]], "Topic id '1' in group 0 is not an integer"),
        ("01", "list of groups"),
    ],
)
def test_bad_groups_name_the_value(groups, message):
    with pytest.raises(TextVAEError, match=message):
        merge_assignment(groups, 6)


def test_merged_log_probs_is_the_uniform_mixture():
    rng = numpy.random.default_rng(0)
    probs = rng.dirichlet(numpy.ones(5), size=4)
    merge_map = numpy.array([1, 0, 1, 1])
    merged = numpy.exp(merged_log_probs(numpy.log(probs), merge_map))
    assert merged[0] == pytest.approx(probs[1], rel=1e-6)
    assert merged[1] == pytest.approx(probs[[0, 2, 3]].mean(axis=0), rel=1e-6)
    assert (numpy.array([[0.2, 0.8]]) @ fold_matrix(merge_map).T).tolist() == [[0.8, 0.2, 0.8, 0.8]]
    assert expand_topics(numpy.array([0.4, 0.6]), merge_map) == pytest.approx([0.2, 0.4, 0.2, 0.2])


def test_doc_topics_are_summed_and_clusters_unchanged(trained, merged, texts):
    nlp, _ = trained
    before = list(nlp.pipe(texts))
    after = list(merged.pipe(texts))
    for a, b in zip(before, after):
        t = a._.topics
        assert b._.topics.shape == (3,) and b._.topics.dtype == numpy.float32
        assert b._.topics == pytest.approx([t[0] + t[3], t[1] + t[4] + t[5], t[2]], abs=1e-6)
        assert b._.topics.sum() == pytest.approx(1.0, abs=1e-5)
        assert numpy.array_equal(b._.cluster_probs, a._.cluster_probs) and b._.cluster == a._.cluster
        assert numpy.array_equal(b._.latent, a._.latent)


def test_token_topics_and_spans_follow_the_merge(trained, merged, texts):
    nlp, _ = trained
    pipe = merged.get_pipe("textvae")
    a, b = nlp(texts[0]), merged(texts[0])
    n_checked = 0
    for ta, tb in zip(a, b):
        if ta._.topic_probs is None:
            assert tb._.topic_probs is None
            continue
        p = ta._.topic_probs.astype("float64")
        assert tb._.topic_probs == pytest.approx([p[0] + p[3], p[1] + p[4] + p[5], p[2]], abs=2e-3)
        n_checked += 1
    assert n_checked > 3
    labels = {pipe.topic_label(k) for k in range(3)}
    assert b.spans["textvae"] and {s.label_ for s in b.spans["textvae"]} <= labels
    assert all(label.startswith(f"{k}: ") for k, label in enumerate(sorted(labels)))


def test_topic_words_come_from_the_merged_distributions(trained, merged):
    nlp, _ = trained
    before = nlp.get_pipe("textvae").topic_word_matrix().astype("float64")
    pipe = merged.get_pipe("textvae")
    matrix = pipe.topic_word_matrix()
    assert matrix.shape == (3, len(pipe.topic_vocab))
    assert matrix[0] == pytest.approx(before[[0, 3]].mean(axis=0), rel=1e-4)
    assert matrix[1] == pytest.approx(before[[1, 4, 5]].mean(axis=0), rel=1e-4)
    assert matrix[2] == pytest.approx(before[2], rel=1e-4)
    scores = ranking_scores(numpy.log(matrix), pipe.topic_vocab.log_frequencies(), ranking="frex",
                            exclusivity=pipe.topic_word_exclusivity, relevance=pipe.topic_word_relevance)
    expected = [[pipe.topic_vocab.words[j] for j in numpy.argsort(-row, kind="stable")[:5]] for row in scores]
    assert pipe.topic_words(5) == expected
    assert len(pipe.topic_word_weights(4)) == 3


def test_merges_compose_and_undo(trained, merged, texts):
    nlp, _ = trained
    pipe = merged.get_pipe("textvae")
    pipe.merge_topics([[1, 2]])
    assert pipe.topic_merge_map.tolist() == [0, 1, 1, 0, 1, 1] and pipe.n_doc_topics == 2
    pipe.unmerge_topics()
    assert pipe.topic_merge_map is None and pipe.n_doc_topics == 6
    assert numpy.array_equal(merged(texts[0])._.topics, nlp(texts[0])._.topics)
    assert "topic_merge" not in pipe.cfg


def test_reduce_topics_follows_the_tree(trained):
    nlp = copy_of(trained[0])
    pipe = nlp.get_pipe("textvae")
    groups = pipe.topic_tree().cut(2)
    pipe.reduce_topics(2)
    assert pipe.n_doc_topics == 2
    assert [sorted(numpy.flatnonzero(pipe.topic_merge_map == g).tolist()) for g in range(2)] == groups
    assert nlp("The chef baked bread.")._.topics.shape == (2,)
    for bad in (0, 3, -1, "1", 1.5):
        with pytest.raises(TextVAEError, match=r"reduce_topics\(n\) needs an integer n in 1 \.\. 2"):
            pipe.reduce_topics(bad)
    pipe.reduce_topics(1)
    assert nlp("The chef baked bread.")._.topics == pytest.approx([1.0])


def test_merged_pipeline_round_trips_bit_identically(merged, texts, tmp_path):
    data = merged.to_bytes()
    loaded = copy_of(merged)
    assert loaded.get_pipe("textvae").topic_merge_map.tolist() == [0, 1, 2, 0, 1, 1]
    assert loaded.to_bytes() == data
    merged.to_disk(tmp_path / "m")
    from_disk = spacy.load(tmp_path / "m")
    assert from_disk.to_bytes() == data
    again = spacy.blank("en")
    again.add_pipe("textvae", config=SMALL_CONFIG)
    again.from_disk(tmp_path / "m")
    assert again.to_bytes() == data
    for nlp in (loaded, from_disk, again):
        pipe = nlp.get_pipe("textvae")
        assert pipe.n_doc_topics == 3 and pipe.topic_words(5) == merged.get_pipe("textvae").topic_words(5)
        for doc, ref in zip(nlp.pipe(texts), merged.pipe(texts)):
            assert numpy.array_equal(doc._.topics, ref._.topics)


def test_damaged_merge_map_is_refused(merged, tmp_path):
    merged.to_disk(tmp_path / "m")
    cfg_path = tmp_path / "m" / "textvae" / "cfg"
    cfg = srsly.read_json(cfg_path)
    for bad, message in (([0, 2, 2, 0, 2, 2], "topic merge map .* is damaged"),
                         ([0, 1, 0], "covers 3 topics but the model has 6"),
                         ("x", "is damaged")):
        srsly.write_json(cfg_path, {**cfg, "topic_merge": bad})
        with pytest.raises(TextVAEError, match=message):
            spacy.load(tmp_path / "m")


def test_unmerged_pipeline_saves_no_merge_map(trained):
    nlp, _ = trained
    cfg = srsly.json_loads(srsly.msgpack_loads(nlp.get_pipe("textvae").to_bytes())["cfg"])
    assert "topic_merge" not in cfg
