"""Tests for the comment-thread parser: each pipeline step on small fixtures, then the seed thread."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ingest.thread import looks_like
from ingest.thread import parse
from ingest.thread_group import group_exchanges
from ingest.thread_link import ThreadView
from ingest.thread_link import link_answers
from ingest.thread_roles import classify
from ingest.thread_roles import find_expert
from ingest.thread_roles import is_ack
from ingest.thread_roles import question_score
from ingest.thread_split import Comment
from ingest.thread_split import split_comments
from ingest.thread_text import addressed_names
from ingest.thread_text import api_names
from ingest.thread_text import name_match
from ingest.thread_text import signature_name
from ingest.thread_text import strip_courtesy
from ingest.thread_text import to_markdown
from kb.errors import ParseError
from kb.models import OpenQuestion
from kb.models import Pair
from kb.models import SourceDoc
from kb.models import SourceMeta

DATA = Path(__file__).parent / "data" / "thread"
SEED = "003_c11bf7d89f898402.txt"


def read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def conversation():
    split = split_comments(read("conversation.txt"))
    roles = classify(split.comments)
    view = ThreadView(split.comments, roles)
    linked = link_answers(view)
    return view, linked, group_exchanges(view, linked)


def links_by_answer(linked):
    return {link.answer: link for link in linked.links}


# --- step 1: splitting -------------------------------------------------------------------------


def test_split_keeps_numbered_lists_and_log_lines_inside_their_comment():
    split = split_comments(read("boundaries.txt"))
    first = split.comments[0]
    assert "110: FxPkgPnp::Dispatch" in first.body
    assert "1. the USB device is not enumerated" in first.body
    assert "2. the usb device is plugged in" in first.body


def test_split_checks_headers_against_the_expected_sequence():
    split = split_comments(read("boundaries.txt"))
    assert [(c.number, c.user) for c in split.comments] == [(1, "alice"), (2, "bob"), (3, ""), (5, "dave")]
    assert "27. carol says:" in split.comments[1].body  # pasted header with a wrong number stays text
    assert split.missing == (4,)
    assert split.post.startswith("Ask your driver questions")
    assert "Comments (5)" not in split.post


def test_split_without_comments_raises_a_parse_error_that_names_the_format():
    with pytest.raises(ParseError, match="N. user says|numbered comments"):
        split_comments("Just an article.\n\nNo comments here.")


def test_looks_like_needs_headers_in_sequence():
    assert looks_like(read("conversation.txt"))
    assert not looks_like("  1. alice says:\n\n  7. bob says:\n")
    assert not looks_like("1. first step\n2. second step\n3. third step\n")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.from_regex(r"[a-z_]{0,8}", fullmatch=True),
                          st.sampled_from(["text", "1. a list item", "110: a log line", "    2. bob says:"])),
                min_size=1, max_size=12))
def test_split_recovers_every_generated_comment(items):
    lines = ["The post.", ""]
    for k, (user, body) in enumerate(items, start=1):
        lines += [f"  {k}. {user} says:".replace(".  says", ". says"), "", f"    {body}", ""]
    split = split_comments("\n".join(lines))
    assert [c.number for c in split.comments] == list(range(1, len(items) + 1))
    assert [c.user for c in split.comments] == [u for u, _ in items]


# --- text helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, names",
    [
        ("Tal, it sounds like each DSP is a PCI function.", ["Tal"]),
        ("Hi Doron,\n\nI have a question.", ["Doron"]),
        ("Carlos (from 2/27), sorry for getting back late.", ["Carlos"]),
        ("Ted Lin, the only way is the SMBus driver.", ["Ted Lin"]),
        ("Hi Peter & Doron,\n\nthanks", ["Peter", "Doron"]),
        ("Yes, SDV can be used on a WDM driver.", []),
        ("Well, there is not much else I can suggest.", []),
    ],
)
def test_addressed_names(text, names):
    assert addressed_names(text) == names


@pytest.mark.parametrize(
    "text, name",
    [
        ("Can one driver do it?\n\nThanks\n\nTal Zur", "Tal Zur"),
        ("Any tricks?\n\nThanks, Rich", "Rich"),
        ("Is it possible?\n\nThanks again.", None),
        ("I tried everything.\n\nTimothy – I can almost no longer see from searching", "Timothy"),
    ],
)
def test_signature_name(text, name):
    assert signature_name(text) == name


@pytest.mark.parametrize(
    "name, user, aliases, matches",
    [
        ("Tal", "talzur", (), True),
        ("Guarav", "gaurav_verma", (), True),  # misspelt
        ("praveen", "apraveen", (), True),
        ("Kobi", "nkobik", (), True),
        ("John", "VelcroILean", (), False),
        ("John", "VelcroILean", ("John",), True),  # learned from an earlier reply
        ("Timothy", "sgtyork", ("Timothy",), True),  # learned from a signature
    ],
)
def test_name_match(name, user, aliases, matches):
    assert (name_match(name, user, aliases) >= 0.7) is matches


def test_strip_courtesy_drops_greeting_closing_and_signature_block():
    body = ("Hi Doron,\n\nHow do I break into DriverEntry?\n\nPlease advice. Thanks in advance.\n\n"
            "Eric Kumar\n\nAnti-Virus Research")
    text = strip_courtesy(body)
    assert text.startswith("How do I break into DriverEntry?")
    assert "Eric Kumar" not in text and "Hi Doron" not in text


def test_to_markdown_fences_code_and_rejoins_broken_sentences():
    text = ("Could you advise how to detect a device\n\nidle state?\n\nWdfRequestSend( Request, Target, NULL);\n\n"
            "kd> !irp 83432900\n\nThat is all.")
    md = to_markdown(text)
    assert "detect a device idle state?" in md
    assert "```\nWdfRequestSend( Request, Target, NULL);\nkd> !irp 83432900\n```" in md
    assert md.endswith("That is all.")


def test_api_names_keeps_api_identifiers_only():
    names = api_names("Call WdfRequestSend, then IoCallDriver; IRP_MN_QUERY_REMOVE_DEVICE and TraceView and !wdfkd")
    assert names == ("WdfRequestSend", "IoCallDriver", "IRP_MN_QUERY_REMOVE_DEVICE")


# --- step 2: roles -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "When I call WdfRequestSend I get the following ASSERT :\n\n*** Assertion failed: !oldCancelRoutine",
        "The service fails to start. Any idea what is wrong",
        "I am not sure if I am missing some step in the installation. Please\nhelp.",
        "Is it possible that a driver handles several device interrupts simultaneously.",
        "Do you have a general recommendation when to use queued spinlocks.",
        "By sending the request, do you mean calling WdfRequestSend( Request, Target, NULL);",
        "how to create a thread in kernel driver?using which routine",
    ],
)
def test_questions_are_detected_without_relying_on_a_question_mark(text):
    assert question_score(text) >= 2.0


@pytest.mark.parametrize(
    "text",
    ["Thanks, that worked!", "I am working on WDM.", "Doron, thanks for the quick response.",
     "It works now. I clear the SMBus interrupt in the ISR first."],
)
def test_statements_and_thanks_are_not_questions(text):
    assert question_score(text) < 2.0


def test_is_ack():
    assert is_ack("Thanks a lot for your help! You are really a good guy.")
    assert not is_ack("Thanks. But now the driver crashes in EvtIoStop, what should I do?")


def test_find_expert_needs_a_clear_majority():
    comments = [Comment(i, user, "x") for i, user in enumerate(["a", "exp", "b", "exp", "c", "exp", "d"], 1)]
    assert find_expert(comments) == "exp"
    assert find_expert([Comment(1, "a", "x"), Comment(2, "b", "x")]) == ""


def test_classify_the_conversation(conversation):
    view, _linked, _ex = conversation
    roles = view.roles
    assert roles.expert == "marta_k"
    assert {1, 3, 4, 6, 7, 8, 13, 15, 18, 20, 23} <= roles.questions
    assert 16 not in roles.questions  # a clarification, not a question
    assert 24 in roles.acks
    assert 14 in roles.solutions
    assert "Tal Zur" in roles.names["tal_z"]


# --- step 3: linking ---------------------------------------------------------------------------


def test_first_name_learned_from_an_earlier_reply_links_a_later_answer(conversation):
    # "Kevin, ..." (2) taught that velcro42 is Kevin; 9 answers 7, not the nearer 8.
    links = links_by_answer(conversation[1])
    assert links[2].questions == (1,)
    assert links[9].questions == (7,)


def test_late_answer_found_by_name_and_topic(conversation):
    assert links_by_answer(conversation[1])[10].questions == (3,)


def test_one_reply_answers_two_people(conversation):
    assert links_by_answer(conversation[1])[11].questions == (6, 8)


def test_double_post_links_like_the_first_copy(conversation):
    links = links_by_answer(conversation[1])
    assert links[12].questions == links[11].questions and links[12].kind == "expert"


def test_self_answer_and_reader_answer(conversation):
    links = links_by_answer(conversation[1])
    assert (links[14].questions, links[14].kind, links[14].answered_by) == ((13,), "self", "ron_w")
    assert (links[21].questions, links[21].kind) == ((20,), "reader")
    assert links[22].questions == (20,)  # the expert still answers after a reader did


def test_clarification_joins_its_question(conversation):
    assert conversation[1].clarifies == {16: 15}


# --- step 4: grouping --------------------------------------------------------------------------


def test_exchanges_group_follow_ups_and_rank_answers(conversation):
    exchanges = {ex.question: ex for ex in conversation[2]}
    assert [a.comments for a in exchanges[(15, 16)].answers] == [(17,)]
    assert [a.comments for a in exchanges[(18,)].answers] == [(19,)]
    assert [(a.comments, a.kind) for a in exchanges[(20,)].answers] == [((22,), "expert"), ((21,), "reader")]
    assert [a.comments for a in exchanges[(6,)].answers] == [(11, 12)]
    assert exchanges[(23,)].answers == ()


def test_adjacent_questions_merge_only_when_about_the_same_thing():
    text = "\n".join(
        [
            "Post.", "",
            "  1. ann says:", "", "    By sending the request do you mean WdfRequestSend on the WDFIOTARGET?", "",
            "  2. ann says:", "", "    Then why does WdfRequestSend on the WDFIOTARGET assert?", "",
            "  3. exp says:", "", "    Ann, WdfRequestSend gives the request to the WDFIOTARGET, so it asserts.", "",
            "  4. bob says:", "", "    How do I install an INF with devcon?", "",
            "  5. bob says:", "", "    Why is my USB power consumption so high?", "",
            "  6. exp says:", "",
            "    Bob, devcon install takes the INF and a hardware ID. USB power: enable selective suspend.", "",
            "  7. exp says:", "", "    x", "",
        ]
    )
    split = split_comments(text)
    roles = classify(split.comments)
    view = ThreadView(split.comments, roles)
    questions = [ex.question for ex in group_exchanges(view, link_answers(view))]
    assert (1, 2) in questions
    assert (4,) in questions and (5,) in questions


def test_thread_without_an_expert_pairs_reader_answers():
    text = "\n".join(
        [
            "Forum thread", "",
            "  1. alice says:", "",
            "    My KMDF driver bugchecks with 0x9F on sleep. Any idea what blocks the power IRP?", "",
            "  2. bob says:", "", "    Alice, a power IRP stuck in the stack means a request in a power managed queue "
            "was never acknowledged: call WdfRequestStopAcknowledge in EvtIoStop.", "",
            "  3. carol says:", "", "    How do I read the PCI configuration space from user mode?", "",
            "  4. alice says:", "", "    Thanks Bob, that fixed it!", "",
            "  5. dave says:", "", "    Carol, you cannot read PCI configuration space from user mode; write a small "
            "driver and query BUS_INTERFACE_STANDARD.", "",
        ]
    )
    records = list(parse(text, SourceDoc(path="forum.txt", kind="thread")))
    assert records[0].extra["expert"] is None and records[0].title == "Forum thread"
    pairs = [(r.locator, r.answered_by, r.extra["answer_kind"]) for r in records[1:]]
    assert pairs == [({"question": [1], "answer": [2]}, "bob", "reader"),
                     ({"question": [3], "answer": [5]}, "dave", "reader")]


# --- records -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def records():
    return list(parse(read("conversation.txt"), SourceDoc(path="conversation.txt", kind="thread", url="https://x/t")))


def by_question(records):
    return {tuple(r.locator["question"]): r for r in records if isinstance(r, Pair) and r.rank == 0}


def test_parse_yields_source_meta_first(records):
    meta = records[0]
    assert isinstance(meta, SourceMeta)
    assert meta.extra["thread"] is True and meta.extra["comments"] == 24 and meta.extra["expert"] == "marta_k"
    assert meta.url == "https://x/t" and "marta_k" in meta.title
    assert not any(isinstance(r, SourceMeta) for r in records[1:])


def test_pairs_carry_clean_question_attributed_answer_and_locator(records):
    pair = by_question(records)[(3,)]
    assert pair.kind == "thread" and pair.topics == () and pair.rank == 0
    assert pair.locator == {"question": [3], "answer": [10]}
    assert pair.answered_by == "marta_k" and pair.extra["asked_by"] == "tal_z"
    assert pair.question.startswith("My PCI board carries several DSPs")
    assert "Tal Zur" not in pair.question and "Hi Marta" not in pair.question
    assert pair.answer.startswith("**marta_k** (comment 10):")
    assert "WdfInterruptCreate" in pair.api_names


def test_follow_up_question_includes_its_context(records):
    question = by_question(records)[(18,)].question
    assert question.startswith("Then why does IoSetDeviceInterfaceState fail")
    assert "Follow-up" in question and "STATUS_OBJECT_NAME_INVALID when I enable" in question


def test_double_post_is_shown_once(records):
    answer = by_question(records)[(6,)].answer
    assert answer.startswith("**marta_k** (comments 11, 12):")
    assert answer.count("WdfIoTargetStop") == 1


def test_ranked_answers_and_open_questions(records):
    ranked = [(r.rank, r.answered_by) for r in records if isinstance(r, Pair) and r.locator["question"] == [20]]
    assert ranked == [(0, "marta_k"), (1, "helper_h")]
    opens = [r for r in records if isinstance(r, OpenQuestion)]
    assert [(o.locator, o.asked_by) for o in opens] == [({"question": [23]}, "gsemeraro")]
    assert "Server 2003 DDK" in opens[0].question


def test_parse_is_deterministic(records):
    again = list(parse(read("conversation.txt"), SourceDoc(path="conversation.txt", kind="thread", url="https://x/t")))
    assert again == records


# --- the seed thread ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_records(seeds):
    text = (seeds / SEED).read_text(encoding="utf-8")
    return list(parse(text, SourceDoc(path=f"seeds/{SEED}", kind="thread")))


def seed_pairs(seed_records):
    return {(tuple(r.locator["question"]), tuple(r.locator["answer"])): r for r in seed_records if isinstance(r, Pair)}


@pytest.mark.corpus
def test_seed_has_all_382_comments(seeds, seed_records):
    split = split_comments((seeds / SEED).read_text(encoding="utf-8"))
    assert [c.number for c in split.comments] == list(range(1, 383))
    assert split.comments[309].user == "" and split.comments[309].number == 310
    assert seed_records[0].extra["comments"] == 382 and seed_records[0].extra["expert"] == "doronh"


@pytest.mark.corpus
def test_seed_comment_5_is_answered_by_6_and_the_discussion_continues(seed_records):
    pairs = seed_pairs(seed_records)
    assert ((5,), (6,)) in pairs
    assert ((7,), (8,)) in pairs
    assert ((9, 10), (11,)) in pairs
    assert "WdfRequestMarkCancelable" in pairs[((5,), (6,))].question


@pytest.mark.corpus
def test_seed_names_late_answers_and_double_posts(seed_records):
    pairs = seed_pairs(seed_records)
    assert ((1,), (2,)) in pairs  # "Avi," answers serg_pery
    assert ((129,), (131,)) in pairs  # "John," here is jdh28, not VelcroILean
    assert ((62,), (79,)) in pairs  # "Darwin," 17 comments later
    assert ((133,), (142, 143)) in pairs  # posted twice
    assert ((287,), (333,)) in pairs  # quoted back 46 comments later
    for q in (88, 89, 92, 94):  # one reply answers four questions
        assert ((q,), (96,)) in pairs


@pytest.mark.corpus
def test_seed_open_questions_are_not_pairs(seed_records):
    opens = {tuple(r.locator["question"]) for r in seed_records if isinstance(r, OpenQuestion)}
    assert {(38,), (382,)} <= opens
    assert not any(r.locator["question"] == [38] for r in seed_records if isinstance(r, Pair))
