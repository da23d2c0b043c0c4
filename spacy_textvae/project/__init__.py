"""The spaCy project's tooling, apart from the library: the `spacy textvae`
commands (cli), raw-corpus readers (corpus), the demo corpus (demo_corpus and
its word lists, demo_words.json), the 20 Newsgroups conversion (newsgroups),
reports on a trained pipeline (reports) and the packaging step (packaging)."""
