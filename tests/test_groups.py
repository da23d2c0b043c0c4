"""Topic shares per group: labels from extensions, user_data, cats or a
callable, ISO dates bucketed by day, month or year, rows summing to 1."""
import datetime
import json

import numpy
import pytest
import spacy
from spacy.tokens import Doc

from spacy_textvae.errors import TextVAEError
from spacy_textvae.extensions import install_extensions
from spacy_textvae.groups import date_bucket, group_value, topics_per_group

DATES = ["2024-01-05", "2024-01-20T08:00:00", "2024-02-01", "2023-12-31", None]
SOURCES = ["a", "b", "a", "b", "a"]


@pytest.fixture()
def docs():
    install_extensions("")
    if not Doc.has_extension("source"):
        Doc.set_extension("source", default=None)
    nlp = spacy.blank("en")
    rng = numpy.random.default_rng(0)
    result = []
    for i, (date, source) in enumerate(zip(DATES, SOURCES)):
        doc = nlp.make_doc(f"doc {i}")
        doc._.topics = rng.dirichlet(numpy.ones(3)).astype("float32")
        if date is not None:
            doc.user_data["date"] = date
        doc._.source = source
        doc.cats = {"news": float(i % 2 == 0)}
        result.append(doc)
    return result


def test_groups_by_month(docs):
    result = topics_per_group(docs, "date", frequency="month")
    assert result.groups == ["2023-12", "2024-01", "2024-02"]
    assert result.counts.tolist() == [1, 2, 1] and result.n_missing == 1
    topics = numpy.stack([d._.topics for d in docs]).astype("float64")
    assert result.shares.shape == (3, 3)
    assert result.shares.sum(axis=1) == pytest.approx(1.0)
    assert result.shares[1] == pytest.approx(topics[[0, 1]].mean(axis=0), rel=1e-6)
    assert result.shares[0] == pytest.approx(topics[3], rel=1e-6)
    assert topics_per_group(docs, "date", frequency="year").groups == ["2023", "2024"]
    assert topics_per_group(docs, "date", frequency="day").counts.tolist() == [1, 1, 1, 1]


def test_keys_extension_cats_and_callable(docs):
    by_source = topics_per_group(docs, "source")
    assert by_source.groups == ["a", "b"] and by_source.counts.tolist() == [3, 2] and by_source.n_missing == 0
    by_cat = topics_per_group(docs, "news")
    assert by_cat.groups == ["news", "not news"] and by_cat.counts.tolist() == [3, 2]

    def length_class(doc):
        return "even" if int(doc.text.split()[1]) % 2 == 0 else "odd"

    by_call = topics_per_group(docs, length_class)
    assert by_call.key == "length_class" and by_call.counts.tolist() == [3, 2]
    assert group_value(docs[0], "nothing") is None
    data = json.loads(by_source.to_json())
    assert data["groups"] == ["a", "b"] and data["counts"] == [3, 2]
    assert numpy.asarray(data["shares"]) == pytest.approx(by_source.shares)


def test_date_bucket():
    assert date_bucket("2024-03-05T10:00:00Z", "month") == "2024-03"
    assert date_bucket(datetime.date(2021, 7, 9), "day") == "2021-07-09"
    assert date_bucket("2024", "year") == "2024"
    with pytest.raises(TextVAEError, match="'2024' is not an ISO date with a month"):
        date_bucket("2024", "month")
    with pytest.raises(TextVAEError, match="'last week' is not an ISO date"):
        date_bucket("last week", "year")
    with pytest.raises(TextVAEError, match="frequency must be one of"):
        date_bucket("2024", "week")


def test_errors(docs):
    with pytest.raises(TextVAEError, match="frequency must be one of"):
        topics_per_group(docs, "date", frequency="quarter")
    with pytest.raises(TextVAEError, match="No doc has both topics and a value under 'nothing'"):
        topics_per_group(docs, "nothing")
    docs[0]._.topics = numpy.ones(2, dtype="float32") / 2
    with pytest.raises(TextVAEError, match="different lengths"):
        topics_per_group(docs, "source")


def test_component_method_annotates_and_follows_merges(trained, corpus):
    nlp, _ = trained
    merged = spacy.blank("en")
    merged.add_pipe("textvae", config={"n_topics": 6, "n_clusters": 3, "kl_warmup_epochs": 7.0,
                                      "prior_fit_epochs": 10.0})
    merged.from_bytes(nlp.to_bytes())
    pipe = merged.get_pipe("textvae")
    pipe.merge_topics([[0, 1, 2]])
    texts, labels = corpus
    docs = [merged.make_doc(t) for t in texts[:30]]
    for doc, label in zip(docs, labels):
        doc.user_data["label"] = label
    result = pipe.topics_per_group(docs, "label")
    assert result.groups == sorted(set(labels[:30]))
    assert result.shares.shape == (len(result.groups), 4)
    assert result.counts.sum() == 30
    expected = numpy.stack([d._.topics for d, l in zip(docs, labels) if l == result.groups[0]]).mean(axis=0)
    assert result.shares[0] == pytest.approx(expected, rel=1e-5)
