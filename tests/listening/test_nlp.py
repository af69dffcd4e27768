"""The NLP core of listening (listening/nlp): normalisation, embeddings, language, sentiment and
near-duplicates, on plain lists and arrays. No network, no ../shared: only the committed artifact."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listening.nlp import dedupe, embedder, language, normalize
from listening.nlp.sentiment import ARTIFACT_PATH, LABELS, SentimentModel, artifact_write

PROPERTIES = settings(
    max_examples=200,
    deadline=None,
    database=None,  # no .hypothesis folder in the repository
    suppress_health_check=[HealthCheck.too_slow],
)
# Texts the properties draw from: any Unicode (controls, surrogates excluded by hypothesis' default,
# format characters, emoji, right-to-left), plus fragments the rules act on.
_FRAGMENTS = st.sampled_from(
    [
        "RT @user: ", "@Acme", "http://t.co/x1", "www.example.com", "&amp;", "&amp;amp;", "&lt;3", ":)",
        ":'(", "xD", ";-)", "soooo", "!!!!!", "😂", "👍🏽", "❤️", "\u200b", "\u202e", "\x00", "\ufeff",
        "مرحبا", "שלום", "\uff28\uff45\uff4c\uff4c\uff4f", "…", "1000000", "#tag", " ", "\n", "\t",
        "\uff06amp;", ":\u200b)",
    ]
)  # fmt: skip
TEXTS = st.lists(st.one_of(st.text(max_size=30), _FRAGMENTS), max_size=12).map("".join)

SAMPLES = {
    "positive": [
        "I absolutely love the new update, everything is so fast now! Great job team 😍",
        "Huge thanks to @AcmeSupport for fixing my account in minutes. Best service ever!",
    ],
    "negative": [
        "Worst customer service ever. The app keeps crashing and nobody answers. Furious.",
        "@AcmeCloud your outage wiped out a whole day of work. This is unacceptable 😡",
    ],
    "neutral": [
        "Acme will publish its quarterly results on Thursday at 9am.",
        "The conference on cloud security takes place in Berlin next week.",
    ],
}


@pytest.fixture(scope="module")
def model() -> SentimentModel:
    embedder.get_model()  # load MiniLM once for the whole module
    return SentimentModel.load()


# --- normalisation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("RT @Acme: Soooo happy!!!!!! http://t.co/abc", "RT @user: Soo happy!!! http"),
        ("great:) &amp; <3 xDDD", "great smiling face & red heart laughing face"),
        ("👍🏽 ❤️ 😂😂😂😂😂", "thumbs up red heart laughing face laughing face laughing face"),
        ("\uff28\uff45\uff4c\uff4c\uff4f\u3000wo\u200brld\x00!", "Hello world !"),
        ("mail a@b.com or @bob@mastodon.social", "mail a@b.com or @user"),
        ("price $1000000, 10:00 Re:Oracle", "price $1000000, 10:00 Re:Oracle"),
        ("&amp;lt;3", "red heart"),
        ("", ""),
    ],
)
def test_normalize_text_rules(raw: str, expected: str) -> None:
    assert normalize.normalize_text(raw) == expected


@PROPERTIES
@given(TEXTS)
def test_normalize_and_clean_are_idempotent(text: str) -> None:
    once = normalize.normalize_text(text)
    assert normalize.normalize_text(once) == once
    cleaned = normalize.clean_text(text)
    assert normalize.clean_text(cleaned) == cleaned
    # Nothing invisible survives: no controls, format characters or surrogates.
    assert not any(ch != " " and not ch.isprintable() for ch in once)


@pytest.mark.parametrize(
    "text",
    ["", "a" * 100_000, "😀" * 50_000, "مرحبا بالعالم " * 5_000, "\x00" * 1000, "\u202e\u200f" * 1000],
)
def test_normalize_survives_edge_inputs(text: str) -> None:
    out = normalize.normalize_text(text)
    assert normalize.normalize_text(out) == out
    assert "\x00" not in out


# --- embedder ----------------------------------------------------------------------------------


def test_encode_shape_dtype_unit_norm(model: SentimentModel) -> None:
    vectors = embedder.encode(["The app is great", "", "x" * 100_000, "مرحبا بالعالم"])
    assert vectors.shape == (4, embedder.EMBEDDING_DIM) == (4, 384)
    assert vectors.dtype == np.float32
    assert np.all(np.isfinite(vectors))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


def test_encode_is_deterministic_and_batch_independent(model: SentimentModel) -> None:
    texts = ["Our release is out today", "Servers are down again", "Lunch at noon?"]
    first, second = embedder.encode(texts), embedder.encode(texts)
    assert np.array_equal(first, second)
    alone = embedder.encode(texts[1:2])
    np.testing.assert_allclose(alone[0], first[1], atol=1e-5)


def test_encode_puts_paraphrases_closer_than_unrelated_texts(model: SentimentModel) -> None:
    a, b, c = embedder.encode(
        [
            "The latest update drains my phone battery really fast.",
            "Since the new update my battery dies within hours.",
            "Our football team won the championship last night.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.3


def test_encode_reads_the_normalised_text(model: SentimentModel) -> None:
    # What lets enrichment embed once for the vector column and the sentiment head alike.
    raw = "RT @Someone: Soooo good!!!!!! https://t.co/abc 👍"
    np.testing.assert_allclose(
        embedder.encode([raw]), embedder.encode([normalize.normalize_text(raw)]), atol=1e-6
    )


def test_model_loads_once_under_concurrent_first_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = []

    def slow_load() -> object:
        loads.append(1)
        time.sleep(0.2)  # long enough for every thread to arrive while the first one loads
        return object()

    monkeypatch.setattr(embedder, "_model", None)
    monkeypatch.setattr(embedder, "_load", slow_load)
    with ThreadPoolExecutor(max_workers=4) as pool:
        models = list(pool.map(lambda _: embedder.get_model(), range(4)))
    assert len(loads) == 1
    assert all(model is models[0] for model in models)


def test_embedder_is_offline() -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"


# --- language ----------------------------------------------------------------------------------

LANGUAGE_EXAMPLES = [
    ("en", "The new version of the app is really fast and I like it a lot."),
    ("es", "La nueva versión de la aplicación es muy rápida y me gusta mucho."),
    ("fr", "La nouvelle version de l'application est très rapide et je l'aime beaucoup."),
    ("de", "Die neue Version der App ist wirklich schnell und gefällt mir sehr."),
    ("pt", "A nova versão do aplicativo é muito rápida e eu gosto muito dela."),
    ("it", "La nuova versione dell'applicazione è molto veloce e mi piace molto."),
    ("nl", "De nieuwe versie van de app is echt snel en ik vind hem erg goed."),
    ("sv", "Den nya versionen av appen är riktigt snabb och jag gillar den mycket."),
    ("pl", "Nowa wersja aplikacji jest naprawdę szybka i bardzo mi się podoba."),
    ("tr", "Uygulamanın yeni sürümü gerçekten hızlı ve çok beğendim."),  # noqa: RUF001
    ("ru", "Новая версия приложения работает очень быстро, и мне она нравится."),
    ("uk", "Нова версія застосунку працює дуже швидко, і вона мені подобається."),  # noqa: RUF001
    ("ja", "アプリの新しいバージョンはとても速くて気に入っています。"),
    ("zh", "这个应用的新版本非常快，我很喜欢。"),  # noqa: RUF001
    ("ko", "앱의 새 버전은 정말 빠르고 마음에 들어요."),
    ("ar", "الإصدار الجديد من التطبيق سريع جدا وأنا أحبه كثيرا."),
    ("hi", "ऐप का नया संस्करण बहुत तेज़ है और मुझे यह बहुत पसंद है।"),
    ("id", "Versi baru aplikasi ini sangat cepat dan saya sangat menyukainya."),
    ("en", "RT @acme_es: Our status page https://status.acme.example says everything is fine #outage"),
]


def test_detect_languages_on_a_table_of_examples() -> None:
    expected = [code for code, _ in LANGUAGE_EXAMPLES]
    assert language.detect_languages([text for _, text in LANGUAGE_EXAMPLES]) == expected


@pytest.mark.parametrize(
    "junk", ["", "   ", "😀😀", "12345", "\x00\x00\x00", "@someone https://t.co/abc #42", "ok", "!!!???"]
)
def test_detect_languages_is_unsure_on_junk(junk: str) -> None:
    assert language.detect_languages([junk]) == [""]


def test_detect_languages_answer_depends_on_the_text_alone() -> None:
    texts = [text for _, text in LANGUAGE_EXAMPLES] + ["", "ok"]
    forward = language.detect_languages(texts)
    backward = language.detect_languages(texts[::-1])[::-1]
    alone = [language.detect_languages([text])[0] for text in texts]
    assert forward == backward == alone
    assert language.detect_languages([]) == []


def test_every_detectable_language_is_a_two_letter_code() -> None:
    assert len(set(language.LANGUAGES)) == len(language.LANGUAGES)
    assert all(re.fullmatch(r"[a-z]{2}", code) for code in language.LANGUAGES)


POSTGRES_16_CONFIGS = {
    "simple", "arabic", "armenian", "basque", "catalan", "danish", "dutch", "english", "finnish",
    "french", "german", "greek", "hindi", "hungarian", "indonesian", "irish", "italian", "lithuanian",
    "nepali", "norwegian", "portuguese", "romanian", "russian", "serbian", "spanish", "swedish",
    "tamil", "turkish", "yiddish",
}  # fmt: skip


@pytest.mark.parametrize(
    ("code", "config"),
    [
        ("en", "english"),
        ("es", "spanish"),
        ("pt-BR", "portuguese"),
        ("PT_br", "portuguese"),
        ("nb", "norwegian"),
        ("de", "german"),
        ("ru", "russian"),
        ("ja", "simple"),
        ("uk", "simple"),
        ("", "simple"),
        ("xx", "simple"),
    ],
)
def test_postgres_text_search_config(code: str, config: str) -> None:
    assert language.postgres_text_search_config(code) == config


def test_postgres_configs_exist_in_postgres_16() -> None:
    codes = [*language.LANGUAGES, "hy", "eu", "ga", "lt", "ne", "sr", "ta", "yi", "no", "nn"]
    assert {language.postgres_text_search_config(code) for code in codes} <= POSTGRES_16_CONFIGS


# --- sentiment ---------------------------------------------------------------------------------


def test_committed_artifact_loads_with_version_and_hash(model: SentimentModel) -> None:
    assert model.version == "sentiment-v1"
    assert model.sha256 == hashlib.sha256(ARTIFACT_PATH.read_bytes()).hexdigest()
    assert model.config["normalization"] == normalize.NORMALIZATION_VERSION
    assert model.config["metrics"]["tweeteval_val_macro_recall"] >= 0.66
    assert ARTIFACT_PATH.stat().st_size < 5_000_000
    assert SentimentModel.load() is model  # one per process
    # Plain arrays only: numpy refuses anything that would need pickle.
    with np.load(ARTIFACT_PATH, allow_pickle=False) as arrays:
        assert {a.dtype.kind for a in arrays.values()} <= {"f", "U"}


@pytest.mark.parametrize(
    ("label", "text"), [(label, text) for label, texts in SAMPLES.items() for text in texts]
)
def test_sentiment_of_clear_examples(model: SentimentModel, label: str, text: str) -> None:
    [(predicted, confidence)] = model.predict([text])
    assert predicted == label
    assert 0.5 < confidence <= 1.0


def test_predict_reuses_precomputed_embeddings(model: SentimentModel) -> None:
    texts = [text for texts in SAMPLES.values() for text in texts] + ["", "RT @x: ok http://t.co/y"]
    vectors = embedder.encode(texts)
    with_vectors = model.predict(texts, vectors)
    without = model.predict(texts)
    assert [label for label, _ in with_vectors] == [label for label, _ in without]
    np.testing.assert_allclose([c for _, c in with_vectors], [c for _, c in without], atol=1e-6)
    # The vectors given are the ones used: another text's vectors change the answer.
    assert not np.allclose(model.predict_proba(texts[:2], vectors[2:4]), model.predict_proba(texts[:2]))


def test_predict_rejects_embeddings_of_the_wrong_shape(model: SentimentModel) -> None:
    with pytest.raises(ValueError, match="shape"):
        model.predict(["one", "two"], np.zeros((3, 384), dtype=np.float32))
    assert model.predict([]) == []


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(TEXTS, min_size=1, max_size=4))
def test_sentiment_labels_and_confidences_are_well_formed(model: SentimentModel, texts: list[str]) -> None:
    answers = model.predict(texts)
    assert len(answers) == len(texts)
    for label, confidence in answers:
        assert label in LABELS
        assert 1 / 3 <= confidence <= 1.0


def test_artifact_round_trip_is_byte_stable(model: SentimentModel, tmp_path: Path) -> None:
    config = {key: model.config[key] for key in ("version", "metrics")}
    first = artifact_write(tmp_path / "a.npz", model.heads, config)
    second = artifact_write(tmp_path / "b.npz", model.heads, config)
    assert first == second  # same weights, same bytes, same hash
    copy = SentimentModel.read(tmp_path / "a.npz")
    texts = SAMPLES["positive"] + SAMPLES["negative"]
    vectors = embedder.encode(texts)
    np.testing.assert_allclose(
        copy.predict_proba(texts, vectors), model.predict_proba(texts, vectors), atol=1e-6
    )


def test_artifact_of_another_normalisation_is_refused(model: SentimentModel, tmp_path: Path) -> None:
    with np.load(ARTIFACT_PATH, allow_pickle=False) as arrays:
        contents = dict(arrays)
    config = json.loads(str(contents["config"]))
    config["normalization"] = normalize.NORMALIZATION_VERSION + 1
    contents["config"] = np.array(json.dumps(config))
    np.savez(tmp_path / "old.npz", **contents)
    with pytest.raises(ValueError, match="normalisation"):
        SentimentModel.read(tmp_path / "old.npz")


# --- classify_sentiment command ----------------------------------------------------------------

_TSV_LINE = re.compile(r"(negative|neutral|positive)\t(0\.\d{4}|1\.0000)")


def test_classify_sentiment_keeps_lines_aligned(model: SentimentModel, tmp_path: Path) -> None:
    source = tmp_path / "texts.txt"
    lines = [SAMPLES["positive"][0], "", SAMPLES["negative"][0], "   ", "a\rb", SAMPLES["neutral"][0]]
    source.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\n")
    target = tmp_path / "labels.tsv"
    call_command(
        "classify_sentiment", input=str(source), output=str(target), batch_size=4, stderr=io.StringIO()
    )
    out = target.read_text(encoding="utf-8").split("\n")
    assert out[-1] == ""  # every line ends with a newline
    out = out[:-1]
    assert len(out) == len(lines)
    assert all(_TSV_LINE.fullmatch(line) for line in out)
    assert [out[i].split("\t")[0] for i in (0, 2, 5)] == ["positive", "negative", "neutral"]


def test_classify_sentiment_batches_give_the_same_answers(model: SentimentModel, tmp_path: Path) -> None:
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(text for texts in SAMPLES.values() for text in texts), encoding="utf-8")
    outputs = []
    for batch_size in (1, 512):
        stdout = io.StringIO()
        call_command(
            "classify_sentiment", input=str(source), output="-", batch_size=batch_size,
            stdout=stdout, stderr=io.StringIO(),
        )  # fmt: skip
        outputs.append(stdout.getvalue())
    assert outputs[0] == outputs[1]
    assert outputs[0].count("\n") == 6


def test_classify_sentiment_reads_stdin(model: SentimentModel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("\ufeffI love it!\n\nmeh\n".encode())))
    stdout = io.StringIO()
    call_command("classify_sentiment", input="-", output="-", stdout=stdout, stderr=io.StringIO())
    assert len(stdout.getvalue().splitlines()) == 3


def test_classify_sentiment_missing_input_is_a_command_error(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not found"):
        call_command("classify_sentiment", input=str(tmp_path / "nope.txt"), output=str(tmp_path / "out.tsv"))


# --- near-duplicates ---------------------------------------------------------------------------

POST = "Huge outage at Acme Cloud this morning, none of our servers respond"


@pytest.mark.parametrize(
    "copy",
    [
        f"RT @alice: {POST} https://t.co/AbC123",
        f"RT @bob: RT @alice: {POST}",
        f"{POST} https://t.co/Zz9",
        f"{POST} http://bit.ly/x https://t.co/y",
        f"{POST.upper()}!!",
        f"{POST} via @TechNews",
        f"rt @carol {POST} …",
    ],
)
def test_retweets_and_link_variants_share_the_story_key(copy: str) -> None:
    assert dedupe.story_key(copy) == dedupe.story_key(POST)


def test_near_copies_are_within_the_radius_and_other_posts_far() -> None:
    key = dedupe.story_key(POST)
    near = dedupe.story_key("Huge outage at Acme Cloud this morning, none of our servers respond at all")
    assert 0 < dedupe.hamming(key, near) <= dedupe.HAMMING_RADIUS
    for other in [
        "Acme Cloud's new region opens in Madrid this morning",
        "Huge discounts at Acme Store this weekend only",
        "none of our servers respond",
    ]:
        assert dedupe.hamming(key, dedupe.story_key(other)) > dedupe.HAMMING_RADIUS


def test_story_key_is_stable_across_processes_and_fits_a_bigint() -> None:
    # Keys are stored: a change of hashing would split every story in two. (Not Python's hash().)
    assert dedupe.story_key("hello world") == dedupe.story_key("RT @x: Hello, World! https://t.co/1")
    assert dedupe.story_key("hello world") == 1458689405584950523
    assert dedupe.story_key("") == dedupe.story_key("!!!") == dedupe.EMPTY_STORY_KEY
    assert dedupe.story_key("https://t.co/a") != dedupe.story_key("https://t.co/b")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("RT @acme: new release", True),
        ("rt @acme new release", True),
        ("MT @acme: new release (edited)", True),
        ("  RT @acme: leading space", True),
        ("New release, please RT @acme", False),
        ("ART @ the gallery", False),
        ("RT is short for retweet", False),
        ("", False),
    ],
)
def test_is_retweet(text: str, expected: bool) -> None:
    assert dedupe.is_retweet(text) is expected


def test_stories_within_orders_by_distance() -> None:
    key = dedupe.story_key(POST)
    flipped = [key ^ 0b1, key ^ 0b111, key ^ (0xFFFF << 20), key]
    keys = np.array([dedupe._signed(k & ((1 << 64) - 1)) for k in flipped], dtype=np.int64)
    assert dedupe.stories_within(key, keys).tolist() == [3, 0, 1]
    assert dedupe.stories_within(key, list(keys)).tolist() == [3, 0, 1]
    assert dedupe.stories_within(key, []).size == 0


@PROPERTIES
@given(TEXTS, TEXTS)
def test_story_key_properties(a: str, b: str) -> None:
    ka, kb = dedupe.story_key(a), dedupe.story_key(b)
    assert -(2**63) <= ka < 2**63
    assert ka == dedupe.story_key(a)
    assert dedupe.hamming(ka, ka) == 0
    assert dedupe.hamming(ka, kb) == dedupe.hamming(kb, ka) <= 64
    assert dedupe.story_key(f"RT @someone: {a}") == dedupe.story_key(a)
