"""The decoders (`spacy_textvae.nn.decoders`): the embedding topic-word
weights (ECRTM) and their clustering regulariser."""
import torch

from spacy_textvae.nn import EmbeddingTopicWords

from .helpers import batch, embedding_module, make_module


def test_embedding_decoder_shapes_and_probabilities():
    module = embedding_module()
    topic_words = module.decoder.topic_words
    assert isinstance(topic_words, EmbeddingTopicWords) and not hasattr(topic_words, "beta")
    weights = topic_words.weights()
    assert weights.shape == (5, 30)
    # ECRTM normalises each word's weights over the topics.
    torch.testing.assert_close(weights.sum(0), torch.ones(30))
    module.eval()
    log_probs = module.decoder(torch.eye(5))
    torch.testing.assert_close(log_probs.exp().sum(1), torch.ones(5))
    pooled, counts = batch()
    for training in (True, False):
        module.train(training)
        mu, theta, gamma, loss, recon, kl, _ = module(pooled, counts)
        assert torch.isfinite(loss).all() and loss.shape == (12,)
    # The word embeddings are fixed (a buffer, saved with the weights); the topics learn.
    names = dict(module.named_parameters())
    assert "decoder.topic_words.topic_embeddings" in names and "decoder.topic_words.word_embeddings" not in names
    assert "decoder.topic_words.word_embeddings" in module.state_dict()


def test_embedding_clustering_spreads_topics_over_the_words():
    # Words in 5 tight groups; all topics start at one point. Minimising the
    # regulariser alone must give each group its own topic (balanced transport).
    g = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(5, 6, generator=g), dim=1) * 2
    emb = (centres.repeat_interleave(6, 0) + 0.01 * torch.randn(30, 6, generator=g))
    # ecr_weight=1.0: regularization() is then the raw transport cost.
    module = make_module(decoder="embedding", word_embeddings=emb, ecr_weight=1.0)
    topic_words = module.decoder.topic_words
    with torch.no_grad():
        topic_words.topic_embeddings.copy_(0.01 * torch.randn(5, 6, generator=g))
    opt = torch.optim.Adam([topic_words.topic_embeddings], lr=0.05)
    first = float(topic_words.regularization().detach())
    for _ in range(300):
        opt.zero_grad()
        topic_words.regularization().backward()
        opt.step()
    assert float(topic_words.regularization().detach()) < 0.2 * first
    nearest = torch.cdist(topic_words.topic_embeddings.detach(), centres).argmin(1)
    assert sorted(nearest.tolist()) == [0, 1, 2, 3, 4]


def test_seed_anchor_moves_the_seeds_into_their_topics():
    # Both decoders: the anchor alone, minimised, gives each seed word to its
    # topic; the owned shares are distributions over topics; and the anchor
    # is a training term only (the logits do not change when it is set).
    for decoder in ("linear", "embedding"):
        module = embedding_module() if decoder == "embedding" else make_module()
        dec = module.decoder
        topic_words = dec.topic_words
        cols = torch.tensor([3, 7, 11])
        owned = topic_words.assignment_log_probs(cols).exp()
        assert owned.shape == (5, 3)
        torch.testing.assert_close(owned.sum(0), torch.ones(3))
        module.eval()
        before = dec(torch.eye(5)).detach()
        assert dec.seed_anchor() is None
        dec.set_seeds(torch.tensor([0, 0, 4]), cols, 2.0)
        torch.testing.assert_close(dec(torch.eye(5)).detach(), before)
        params = [p for p in topic_words.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=0.05)
        first = float(dec.seed_anchor().detach())
        assert first > 0
        for _ in range(200):
            opt.zero_grad()
            dec.seed_anchor().backward()
            opt.step()
        with torch.no_grad():
            owned = topic_words.assignment_log_probs(cols).exp()
        assert owned.argmax(0).tolist() == [0, 0, 4], decoder
        assert float(dec.seed_anchor().detach()) < 0.2 * first
        dec.set_seeds(None, None, 0.0)
        assert dec.seed_anchor() is None


def test_linear_assignment_ignores_the_scale_of_a_column():
    # Batch-norm standardises each word's logits, so scaling β's column must
    # not change how much a topic owns the word.
    module = make_module()
    topic_words = module.decoder.topic_words
    cols = torch.tensor([0, 1])
    before = topic_words.assignment_log_probs(cols).detach()
    with torch.no_grad():
        topic_words.beta[:, 0] *= 10.0
        topic_words.beta[:, 1] += 3.0
    torch.testing.assert_close(topic_words.assignment_log_probs(cols).detach(), before, atol=1e-4, rtol=1e-4)
