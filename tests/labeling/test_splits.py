"""Planning train / validation / test: deterministic for a seed, stratified by label, ratios as
asked, and duplicates, a document's chunks and near-duplicates never on both sides."""

import numpy as np
import pytest

from labeling.services.splits import NO_DOCUMENT, SPLIT_NAMES, assign_splits, text_keys


def records(n: int, *, strata=None, text_keys=None, documents=None, seed_offset: int = 0) -> dict:
    ids = np.arange(1, n + 1, dtype=np.int64)
    content = np.random.default_rng(1234 + seed_offset).integers(-(2**62), 2**62, size=n, dtype=np.int64)
    return {
        "ids": ids,
        "strata": np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata, dtype=np.int64),
        "content_keys": content,
        "text_keys": content.copy() if text_keys is None else np.asarray(text_keys, dtype=np.int64),
        "document_ids": np.full(n, NO_DOCUMENT, dtype=np.int64) if documents is None else np.asarray(documents),
    }


def names(plan) -> list[str]:
    return [SPLIT_NAMES[i] for i in plan.splits]


def test_the_same_seed_gives_the_same_split():
    data = records(500)

    first = assign_splits(**data, ratios=(80, 10, 10), seed=7)
    second = assign_splits(**data, ratios=(80, 10, 10), seed=7)

    assert names(first) == names(second)


def test_another_seed_gives_another_split():
    data = records(500)

    first = assign_splits(**data, ratios=(80, 10, 10), seed=7)
    second = assign_splits(**data, ratios=(80, 10, 10), seed=8)

    assert names(first) != names(second)


def test_the_split_follows_the_texts_not_the_record_ids():
    data = records(300)
    moved = {**data, "ids": data["ids"] + 10_000}  # the same texts imported again elsewhere

    assert names(assign_splits(**data, ratios=(70, 15, 15), seed=1)) == names(
        assign_splits(**moved, ratios=(70, 15, 15), seed=1)
    )


@pytest.mark.parametrize("ratios", [(80, 10, 10), (70, 20, 10), (50, 0, 50), (1, 1, 1)])
def test_each_split_gets_its_share_of_the_records(ratios):
    plan = assign_splits(**records(1000), ratios=ratios, seed=3)

    counts = np.bincount(plan.splits, minlength=3)
    expected = np.array(ratios) / sum(ratios) * 1000
    assert np.all(np.abs(counts - expected) <= 1), (counts, expected)


def test_a_split_with_no_share_stays_empty_and_is_not_reported():
    plan = assign_splits(**records(200), ratios=(90, 0, 10), seed=3)

    assert plan.counts() == {"train": 180, "test": 20}


def test_each_label_is_split_by_the_ratios():
    # 900 of one label, 100 of a rare one: a random split could leave the rare label out of test.
    strata = [1] * 900 + [2] * 100

    plan = assign_splits(**records(1000, strata=strata), ratios=(80, 10, 10), seed=11)

    rare = plan.splits[np.array(strata) == 2]
    assert list(np.bincount(rare, minlength=3)) == [80, 10, 10]


def test_duplicate_texts_fall_in_the_same_split():
    # Every text appears twice (equal once case and punctuation are ignored: the same text key).
    text_keys = np.repeat(np.arange(100), 2)

    plan = assign_splits(**records(200, text_keys=text_keys), ratios=(50, 25, 25), seed=5)

    pairs = plan.splits.reshape(100, 2)
    assert np.all(pairs[:, 0] == pairs[:, 1])
    assert plan.exact_groups == 100
    assert len(set(plan.splits)) == 3  # and still split


def test_the_chunks_of_a_document_fall_in_the_same_split():
    documents = np.repeat(np.arange(1, 21), 10)  # 20 documents of 10 chunks

    plan = assign_splits(**records(200, documents=documents), ratios=(60, 20, 20), seed=5)

    per_document = plan.splits.reshape(20, 10)
    assert np.all(per_document == per_document[:, :1])
    assert plan.document_groups == 20


def test_near_duplicates_fall_in_the_same_split_even_through_a_chain():
    data = records(300)
    # 1 ~ 2 ~ 3 (a chain: 1 and 3 need not be close themselves), and 10 ~ 200.
    pairs = (np.array([1, 2, 10], dtype=np.int64), np.array([2, 3, 200], dtype=np.int64))

    for seed in range(20):
        plan = assign_splits(**data, near_pairs=pairs, ratios=(34, 33, 33), seed=seed)
        split = dict(zip(plan.ids.tolist(), plan.splits.tolist(), strict=True))
        assert split[1] == split[2] == split[3]
        assert split[10] == split[200]
    assert plan.near_groups == 2
    assert plan.near_pairs == 3


def test_pairs_with_records_outside_the_export_are_ignored():
    plan = assign_splits(**records(10), near_pairs=(np.array([1, 99]), np.array([999, 2])), ratios=(80, 10, 10), seed=1)

    assert plan.near_pairs == 0


def test_split_of_unknown_records_is_minus_one():
    plan = assign_splits(**records(10), ratios=(80, 10, 10), seed=1)

    assert list(plan.split_of(np.array([1, 11, 0]))) == [plan.splits[0], -1, -1]


def test_no_records_make_an_empty_plan():
    plan = assign_splits(**records(0), ratios=(80, 10, 10), seed=1)

    assert plan.counts() == {"train": 0, "validation": 0, "test": 0}


def test_ratios_must_be_three_non_negative_weights():
    with pytest.raises(ValueError, match="ratios"):
        assign_splits(**records(5), ratios=(80, -10, 30), seed=1)


def test_a_long_chain_of_near_duplicates_is_one_group_whatever_its_order():
    # 2 ~ 1, 3 ~ 2, ... in a shuffled order: the pairs join up transitively.
    chain = np.random.default_rng(0).permutation(np.arange(1, 500))
    pairs = (chain.astype(np.int64), (chain + 1).astype(np.int64))

    plan = assign_splits(**records(600), near_pairs=pairs, ratios=(50, 25, 25), seed=2)

    assert len(set(plan.splits[:500].tolist())) == 1
    assert plan.near_groups == 1


def test_texts_differing_only_in_case_spacing_and_punctuation_share_a_key():
    texts = ["Great food, friendly staff!", "great food friendly staff", "Great food; unfriendly staff", "!!!"]
    fallback = np.array([1, 2, 3, 4], dtype=np.int64)

    keys = text_keys(texts, fallback=fallback)

    assert keys[0] == keys[1]
    assert keys[0] != keys[2]
    assert keys[3] == 4  # nothing left of the text: its own key, never grouped with others like it
