"""Parsers for forum, mailing-list and chat exports: Discourse, mbox, Stack Exchange Posts.xml, Slack day files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from ingest import discourse
from ingest import mbox
from ingest import slack_export
from ingest import stackexchange
from ingest._threading import Post
from ingest._threading import Thread
from ingest._threading import api_names
from ingest._threading import html_to_markdown
from ingest._threading import thread_records
from kb.errors import ParseError
from kb.models import OpenQuestion
from kb.models import Pair
from kb.models import SourceDoc
from kb.models import SourceMeta

EXPORTS = Path(__file__).resolve().parent / "data" / "exports"
SLACK_DAY = "slack/driver-help/2024-03-05.json"
TOPIC_URL = ("https://community.osr.com/t/"
             "wdfrequestsend-fails-with-status-invalid-device-state-after-selective-suspend/101234")


def read(name: str) -> str:
    return (EXPORTS / name).read_text(encoding="utf-8")


def run(module, name: str, text: str | None = None, url: str | None = None) -> list:
    records = list(module.parse(read(name) if text is None else text, SourceDoc(path=name, kind="export", url=url)))
    assert isinstance(records[0], SourceMeta)
    assert not any(isinstance(r, SourceMeta) for r in records[1:])
    return records


def pairs_of(records: list) -> list[Pair]:
    return [r for r in records if isinstance(r, Pair)]


# --- Discourse -------------------------------------------------------------------------------------------------


def test_discourse_topic_ranks_accepted_then_likes_then_staff_then_order():
    records = run(discourse, "discourse_topic.json")
    pairs = pairs_of(records)
    assert len(records) == 1 + len(pairs)
    assert [(p.locator, p.rank, p.answered_by, p.extra["accepted"], p.extra["score"]) for p in pairs] == [
        ({"question": [1, 2], "answer": [5, 6]}, 0, "Doron Holan", True, 2),
        ({"question": [1, 2], "answer": [3]}, 1, "Tim Roberts", False, 4),
        ({"question": [1, 2], "answer": [7]}, 2, "mark_r", False, 1),  # like count from actions_summary
        ({"question": [1, 2], "answer": [9]}, 3, "Peter Viscarola (OSR)", False, 0),  # staff before post 8
        ({"question": [1, 2], "answer": [8]}, 4, "bench_dev", False, 0),
    ]
    assert {p.kind for p in pairs} == {"thread"}
    assert {p.topics for p in pairs} == {()}


def test_discourse_question_is_title_plus_first_post_plus_early_followup():
    question = pairs_of(run(discourse, "discourse_topic.json"))[0].question
    assert question.startswith("WdfRequestSend fails with STATUS_INVALID_DEVICE_STATE after selective suspend\n\n"
                               "I have a KMDF function driver")
    assert "```c\nWDF_REQUEST_SEND_OPTIONS options;\nWDF_REQUEST_SEND_OPTIONS_INIT(&options," in question
    assert "`WdfRequestSend` returns FALSE" in question
    assert question.endswith("because I saw a deadlock when it was power managed.")  # post 2, before any answer
    assert "Thanks Tim" not in question  # post 4 came after an answer


def test_discourse_answers_are_clean_markdown():
    by_post = {p.locator["answer"][0]: p for p in pairs_of(run(discourse, "discourse_topic.json"))}
    accepted = by_post[5].answer
    assert accepted.startswith("**Doron Holan** (post 5, post 6, accepted):\n\nMake the read queue power managed")
    assert "```c\nNTSTATUS EvtDeviceD0Entry(WDFDEVICE Device, WDF_POWER_DEVICE_STATE PreviousState)\n{\n" in accepted
    assert "GetContext(Device)->BulkIn" in accepted  # entities decoded inside code
    assert accepted.endswith("the log says which target state rejected the request.")  # post 6 merged
    tim = by_post[3].answer
    assert tim.startswith("**Tim Roberts** (post 3):\n\nThat is the framework telling you the truth")
    assert "alex_k:" not in tim and "After that, WdfRequestSend returns FALSE" not in tim  # quote aside removed
    assert ("[Power-Managed I/O Queues](https://learn.microsoft.com/windows-hardware/drivers/wdf/"
            "power-managed-i-o-queues)") in tim
    assert by_post[8].answer == ("**bench_dev** (post 8):\n\nYou could also check the request against "
                                 "`WdfDeviceGetDevicePowerState` first, but that is racy.")  # raw, [quote] removed
    staff = by_post[9].answer
    assert "@alex_k next time" in staff and "slight_smile" not in staff and "/u/alex_k" not in staff
    assert all("automatically closed" not in p.answer for p in by_post.values())  # small-action post skipped


def test_discourse_extra_and_api_names():
    meta, first = run(discourse, "discourse_topic.json")[:2]
    assert meta.title == "WdfRequestSend fails with STATUS_INVALID_DEVICE_STATE after selective suspend"
    assert meta.url == TOPIC_URL
    assert first.extra == {
        "topic_id": 101234,
        "asked_by": "Alex Kowalski",
        "accepted": True,
        "score": 2,
        "url": f"{TOPIC_URL}/5",
        "question_url": TOPIC_URL,
        "asked_at": "2024-03-05T09:12:44.120Z",
        "answered_at": "2024-03-06T16:30:00.000Z",
        "tags": ["kmdf", "usb", "power-management"],
    }
    assert first.heading == meta.title
    for name in ("WdfRequestSend", "STATUS_INVALID_DEVICE_STATE", "WdfIoTargetStart", "EvtDeviceD0Entry"):
        assert name in first.api_names


def test_discourse_topic_without_replies_is_an_open_question():
    records = run(discourse, "discourse_open.json")
    assert len(records) == 2
    question = records[1]
    assert isinstance(question, OpenQuestion)
    assert question.locator == {"question": [1]}
    assert question.asked_by == "lena.w"  # empty name falls back to the username
    assert question.question.startswith("INF install fails: third-party INF does not contain digital signature")
    assert "```\n!!!  sig: Verifying file against specific (valid) catalog failed." in question.question


def test_discourse_list_of_topics_keys_locators_by_topic():
    records = run(discourse, "discourse_list.json")
    assert records[0].title == "2 Discourse topics"
    pairs = pairs_of(records)
    assert [(p.locator, p.rank, p.answered_by, p.extra["accepted"]) for p in pairs] == [
        ({"topic": 99001, "question": [1], "answer": [2]}, 0, "Tim Roberts", False),
        ({"topic": 99002, "question": [1], "answer": [3]}, 0, "Sophie M", True),  # accepted self-answer
        ({"topic": 99002, "question": [1], "answer": [2]}, 1, "ghost", False),
    ]
    assert pairs[0].extra["tags"] == ["wdm", "irql"]  # tag objects of newer Discourse versions
    assert "The DPC waits on a KEVENT\n" not in pairs[0].answer  # [quote] bbcode in raw removed
    assert pairs[0].answer.startswith("**Tim Roberts** (post 2):\n\nA DPC runs at DISPATCH_LEVEL.")
    assert "HKR,,\"SystemWakeEnabled\",0x00010001,1" in pairs[1].answer


def test_discourse_site_comes_from_source_url():
    records = run(discourse, "discourse_open.json", url="https://forum.example.org/t/102777.json")
    assert records[0].url.startswith("https://forum.example.org/t/inf-install-fails")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "not valid JSON"),
        ('{"id": 5, "title": "x"}', "has no post_stream.posts"),
        ('{"post_stream": {"posts": []}}', "empty post_stream.posts"),
        ('{"post_stream": {"posts": [{"username": "a", "cooked": "<p>x</p>"}]}}', "no integer post_number"),
        ('{"post_stream": {"posts": ["hello"]}}', "is not an object"),
        ("[]", "empty list"),
        ('[{"post_stream": {"posts": [{"post_number": 1}]}}, 7]', "topic 2 is a int"),
        ('"just a string"', "expected an object with post_stream.posts"),
    ],
)
def test_discourse_bad_input_raises_parse_error(text, message):
    with pytest.raises(ParseError, match=message):
        list(discourse.parse(read("bad_discourse_truncated.json") if text is None else text,
                             SourceDoc(path="t.json", kind="discourse")))


def test_discourse_missing_post_stream_fixture():
    with pytest.raises(ParseError, match=r"Discourse JSON has no post_stream\.posts"):
        run(discourse, "bad_discourse_no_stream.json")


# --- mbox ------------------------------------------------------------------------------------------------------

WPP_Q = ["<wpp-1@mail.example.com>", "<wpp-2@mail.example.com>"]


def test_mbox_threads_and_locators():
    records = run(mbox, "ntdev.mbox")
    meta = records[0]
    assert meta.title == "Windows System Software Devs Interest List"
    assert meta.extra == {"messages": 9, "threads": 3}
    assert [(type(r).__name__, r.locator, getattr(r, "rank", None), getattr(r, "answered_by", None))
            for r in records[1:]] == [
        ("Pair", {"question": WPP_Q, "answer": ["<wpp-3@probo.com>", "<wpp-5@probo.com>"]}, 0, "Tim Roberts"),
        ("Pair", {"question": WPP_Q, "answer": ["<wpp-4@osr.com>"]}, 1, "Scott Noone"),
        # ctl-2 has no In-Reply-To or References: threaded by its "Re: [ntdev] ..." subject
        ("Pair", {"question": ["<ctl-1@mail.example.cz>"], "answer": ["<ctl-2@example.microsoft.com>"]}, 0,
         "Doron Holan"),
        ("Pair", {"question": ["<ctl-1@mail.example.cz>"], "answer": ["<ctl-3@mail.example.de>"]}, 1, "Jörg Müller"),
        ("OpenQuestion", {"question": ["<ss-1@mail.example.cn>"]}, None, None),
    ]
    assert records[-1].asked_by == "Wei Zhang"


def test_mbox_question_merges_askers_followup_and_drops_footer():
    pair = pairs_of(run(mbox, "ntdev.mbox"))[0]
    assert pair.heading == "WPP tracing: no messages in TraceView for my KMDF driver"  # [ntdev] and RE: stripped
    assert pair.question.startswith("WPP tracing: no messages in TraceView for my KMDF driver\n\n"
                                    "I added WPP tracing to my KMDF driver following the Toaster sample")
    assert "WPP_DEFINE_BIT(TRACE_QUEUE))" in pair.question
    assert "Forgot to say: the trace calls are DoTraceMessage" in pair.question
    assert "From what I see in the build log the .tmh files are generated." in pair.question  # not a separator
    assert "NTDEV is sponsored" not in pair.question and "unsubscribe" not in pair.question.lower()
    assert pair.extra["asked_by"] == "Priya Natarajan"
    assert pair.extra["asked_at"] == "2024-03-05T09:31:07-08:00"
    assert pair.extra["accepted"] is False


def test_mbox_answer_strips_quotes_attribution_signature_and_footer():
    answer = pairs_of(run(mbox, "ntdev.mbox"))[0].answer
    assert answer.startswith("**Tim Roberts** (message 3, message 5):\n\nYour DoTraceMessage takes a LEVEL")
    for gone in ("> Forgot", "wrote:", "On Tue, Mar 5", "Providenza", "timr@probo.com", "Kernel Driver FAQ",
                 "You are currently subscribed"):
        assert gone not in answer
    assert "From the docs: the control GUID must match" in answer  # mboxrd ">From " unescaped, not a quote
    assert answer.endswith("so you see the messages in the kernel debugger too.")  # message 5 merged


def test_mbox_multipart_quoted_printable_and_outlook_original():
    answer = pairs_of(run(mbox, "ntdev.mbox"))[1].answer
    assert answer.startswith("**Scott Noone** (message 4):\n\nPriya \u2014 in addition to what Tim wrote:")
    assert "Original Message" not in answer and "On Behalf Of" not in answer and "<p>" not in answer
    assert answer.endswith("OSR Open Systems Resources, Inc.")


def test_mbox_base64_rfc2047_and_attachment():
    pairs = pairs_of(run(mbox, "ntdev.mbox"))
    question = pairs[2].question
    assert question.startswith("How to restrict access to my control device object?\n\nI have a KMDF control device")
    assert question.endswith("Thanks,\nMarek")  # base64 decoded; the footer part is not taken
    doron = pairs[2].answer
    assert doron.startswith("**Doron Holan** (message 2):\n\nCall WdfDeviceInitAssignSDDLString")
    assert "xxxxx@lists.osr.com" not in doron and "How do I restrict" not in doron
    jorg = pairs[3].answer
    assert jorg.startswith("**Jörg Müller** (message 3):\n\nThe SDDL in the INF only applies to PnP devices")
    assert "catalog failed" not in jorg  # base64 attachment ignored
    assert {"WdfDeviceInitAssignSDDLString", "SDDL_DEVOBJ_SYS_ALL_ADM_ALL", "IoCreateDeviceSecure"} <= set(
        pairs[2].api_names)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, r"mbox message 1 \(line 1\) has no headers"),
        ("", "mbox is empty"),
        ("Subject: hi\n\nbody\n", "not a 'From ' separator"),
        ("From a@b Mon Jan  1 00:00:00 2024\nX-Junk: 1\n\nbody\n", "none of From:, Subject:"),
    ],
)
def test_mbox_bad_input_raises_parse_error(text, message):
    with pytest.raises(ParseError, match=message):
        list(mbox.parse(read("bad_mbox_no_headers.mbox") if text is None else text,
                        SourceDoc(path="x.mbox", kind="mbox")))


def test_mbox_reply_cycle_and_duplicate_ids_do_not_loop():
    text = (
        "From a Mon Jan  1 00:00:00 2024\nFrom: A <a@x.com>\nSubject: q\nMessage-ID: <1@x>\nIn-Reply-To: <2@x>\n\n"
        "Why does IoCallDriver fail?\n\n"
        "From b Mon Jan  1 00:00:00 2024\nFrom: B <b@x.com>\nSubject: Re: q\nMessage-ID: <2@x>\nIn-Reply-To: <1@x>\n\n"
        "Because.\n\n"
        "From b Mon Jan  1 00:00:00 2024\nFrom: B <b@x.com>\nSubject: Re: q\nMessage-ID: <2@x>\n\nBecause.\n"
    )
    records = list(mbox.parse(text, SourceDoc(path="x.mbox", kind="mbox")))
    assert [r.locator for r in records[1:]] == [{"question": ["<1@x>"], "answer": ["<2@x>"]}]


def test_mbox_body_line_starting_with_from_is_not_a_separator():
    text = ("From a@x.com Mon Jan  1 10:00:00 2024\nFrom: A <a@x.com>\nSubject: INF question\nMessage-ID: <1@x>\n\n"
            "Why does my INF fail?\n\nFrom here:\nNote: the log says 0xe0000247\n")
    records = list(mbox.parse(text, SourceDoc(path="x.mbox", kind="mbox")))
    assert len(records) == 2
    assert records[1].question == "INF question\n\nWhy does my INF fail?\n\nFrom here:\nNote: the log says 0xe0000247"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("Use a work item.\n\n-----Original Message-----\nFrom: x\nSent: y\n\nold text", "Use a work item."),
        ("Use a work item.\n\n________________________________\nFrom: x\nSent: y\n\nold", "Use a work item."),
        ("Yes.\n\nFrom: Tim [mailto:t@x]\nSent: Monday\nTo: list\n\nold", "Yes."),
        ("Here is what I wrote:\n    code()\n", "Here is what I wrote:\n    code()"),  # not an attribution
        ("On Mon, Jan 1, 2024 at 9:00 AM Tim <t@x.com> wrote:\n> q\n\nA.\n", "A."),
        ("A.\n--\nsig", "A."),
        ("A.\n_______________________________________________\nntdev mailing list\nntdev@x", "A."),
    ],
)
def test_mbox_clean_body(body, expected):
    assert mbox.clean_body(body) == expected


# --- Stack Exchange --------------------------------------------------------------------------------------------


def test_stackexchange_pairs_ranked_accepted_then_score():
    records = run(stackexchange, "Posts.xml")
    meta = records[0]
    assert meta.extra == {"site": "https://stackoverflow.com", "questions": 3, "answers": 5, "orphan_answers": 1}
    assert [(type(r).__name__, r.locator, getattr(r, "rank", None)) for r in records[1:]] == [
        ("Pair", {"question": [78001234], "answer": [78001300]}, 0),  # accepted, score 5
        ("Pair", {"question": [78001234], "answer": [78001410]}, 1),  # score 9
        ("Pair", {"question": [78001234], "answer": [78001250]}, 2),  # score 2
        ("Pair", {"question": [78002000], "answer": [78002100]}, 0),  # score 4, older
        ("Pair", {"question": [78002000], "answer": [78002150]}, 1),  # score 4
        ("OpenQuestion", {"question": [78003000]}, None),
    ]
    assert [p.extra["accepted"] for p in pairs_of(records)] == [True, False, False, False, False]
    assert records[-1].asked_by == "user 9900"


def test_stackexchange_text_tags_and_urls():
    pairs = pairs_of(run(stackexchange, "Posts.xml"))
    first = pairs[0]
    assert first.question.startswith("KeWaitForSingleObject in a completion routine crashes with "
                                     "IRQL_NOT_LESS_OR_EQUAL\n\nMy WDM filter driver sends an IRP down")
    assert "```\nNTSTATUS MyComplete(PDEVICE_OBJECT Dev, PIRP Irp, PVOID Ctx)\n{\n" in first.question
    assert "KeWaitForSingleObject(&ctx->Done, Executive" in first.question
    assert first.answer.startswith("**user 4455** (answer 78001300, accepted):\n\nCompletion routines run at IRQL <=")
    assert "> Callers of KeWaitForSingleObject must be running at IRQL <= DISPATCH_LEVEL." in first.answer
    assert "(https://stackoverflow.com/questions/1234567/wait-in-completion-routine)" in first.answer
    assert first.extra["tags"] == ["c", "windows", "driver", "wdm", "irql"]
    assert first.extra["url"] == "https://stackoverflow.com/a/78001300"
    assert first.extra["question_url"] == "https://stackoverflow.com/q/78001234"
    assert first.extra["question_score"] == 6
    assert {"KeWaitForSingleObject", "IRQL_NOT_LESS_OR_EQUAL", "STATUS_MORE_PROCESSING_REQUIRED"} <= set(
        first.api_names)
    wpp = pairs[3]
    assert wpp.extra["tags"] == ["kmdf", "wpp", "visual-studio-2022"]  # "|a|b|" tag format
    assert wpp.answered_by == "user3308"  # OwnerDisplayName wins over the id
    assert "```c\n#include \"driver.h\"\n#include \"driver.tmh\"\n```" in wpp.answer


def test_stackexchange_site_from_source_url():
    records = run(stackexchange, "Posts.xml", url="https://superuser.com/questions")
    assert pairs_of(records)[0].extra["url"] == "https://superuser.com/a/78001300"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad_posts_entity_bomb.xml", None, "declares a DOCTYPE or ENTITY"),
        ("bad_posts_missing_type.xml", None, r"Posts\.xml row 3 \(Id=78001300\): missing PostTypeId"),
        ("x.xml", '<posts><row Id="1" PostTypeId="1"', "not well-formed XML"),
        ("x.xml", "", "not well-formed XML"),
        ("x.xml", '<users><row Id="1"/></users>', "root element is <users>"),
        ("x.xml", '<posts><row PostTypeId="1"/></posts>', "row 1: missing Id"),
        ("x.xml", '<posts><row Id="2" PostTypeId="2"/></posts>', r"row 1 \(Id=2\): answer without ParentId"),
        ("x.xml", '<posts><row Id="2" PostTypeId="1" Score="lots"/></posts>', "Score='lots' is not an integer"),
        ("x.xml", '<posts><row Id="2" PostTypeId="\u00b2"/></posts>', "PostTypeId='\u00b2' is not an integer"),
    ],
)
def test_stackexchange_bad_input_raises_parse_error(name, text, message):
    with pytest.raises(ParseError, match=message):
        run(stackexchange, name, text)


# --- Slack -----------------------------------------------------------------------------------------------------

T1 = "1709629812.113409"
T2 = "1709640014.552019"


def test_slack_threads_pairs_and_open_question():
    records = run(slack_export, SLACK_DAY)
    meta = records[0]
    assert meta.title == "#driver-help 2024-03-05"
    assert meta.extra == {"channel": "driver-help", "incomplete_threads": ["1709650000.500500"]}
    assert [(type(r).__name__, r.locator, getattr(r, "rank", None), getattr(r, "answered_by", None))
            for r in records[1:]] == [
        ("Pair", {"question": [T1, "1709630101.220300"], "answer": ["1709633010.408800"]}, 0, "Doron Holan"),
        ("Pair", {"question": [T1, "1709630101.220300"], "answer": ["1709631544.317800"]}, 1, "Tim Roberts"),
        ("Pair", {"question": [T2], "answer": ["1709641200.100100"]}, 0, "Scott Noone"),
        ("Pair", {"question": [T2], "answer": ["1709642400.200200"]}, 1, "U06MARK"),  # no user_profile
        ("OpenQuestion", {"question": ["1709643000.300300"]}, None, None),
    ]
    assert [(p.extra["accepted"], p.extra["score"]) for p in pairs_of(records)] == [
        (True, 1), (False, 2), (False, 3), (False, 0)]


def test_slack_text_is_markdown():
    pairs = pairs_of(run(slack_export, SLACK_DAY))
    question = pairs[0].question
    assert question == ("Anyone seen `WdfRequestSend` fail with STATUS_INVALID_DEVICE_STATE right after the device "
                        "resumes from selective suspend? Reads are forwarded to the bulk IN pipe with "
                        "`WdfUsbTargetPipeGetIoTarget`.\n\nforgot to say: the read queue is **not** power managed "
                        "(`PowerManaged = WdfFalse`)")
    assert pairs[0].answer.startswith("**Doron Holan** (reply 3, accepted):\n\nif you keep it non-power-managed")
    assert "```\nNTSTATUS EvtDeviceD0Entry(WDFDEVICE Device, WDF_POWER_DEVICE_STATE Previous)\n{\n" in pairs[0].answer
    assert "GetContext(Device)->BulkIn" in pairs[0].answer
    assert pairs[1].answer.startswith("**Tim Roberts** (reply 2):\n\n@Alex Kowalski while the device")
    assert ("[Power-Managed I/O Queues](https://learn.microsoft.com/windows-hardware/drivers/wdf/"
            "power-managed-i-o-queues)") in pairs[1].answer
    assert pairs[3].answer.startswith("**U06MARK** (reply 2):\n\n*also* check that `WPP_INIT_TRACING`")
    assert pairs[0].extra["asked_at"] == "2024-03-05T09:10:12.113409+00:00"
    everything = " ".join(p.question + p.answer for p in pairs)
    for gone in ("has joined", "Build #1234", "that fixed it", "great channel", "late reply", "who owns the INF"):
        assert gone not in everything


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "must be a JSON list of messages, got dict"),
        ("[{\"type\": \"message\"", "not valid JSON"),
        ('["hello"]', "message 0 is a str"),
        ('[{"type": "message", "text": "x"}]', "message 0 has no valid ts"),
        ('[{"type": "message", "ts": "nan"}]', "no valid ts"),
        ('[{"type": "message", "ts": "1.5", "thread_ts": 3}]', "invalid thread_ts"),
    ],
)
def test_slack_bad_input_raises_parse_error(text, message):
    with pytest.raises(ParseError, match=message):
        run(slack_export, "bad_slack_object.json", text)


@pytest.mark.parametrize(
    ("mrkdwn", "markdown"),
    [
        ("see <https://x.org/a|the docs> and <https://x.org/b>", "see [the docs](https://x.org/a) and https://x.org/b"),
        ("ping <@U1> and <@U2|bob> in <#C9|driver-help> <!here>", "ping @Tim and @bob in #driver-help @here"),
        ("*bold* _it_ ~gone~ but `*not* code` a_b_c", "**bold** *it* ~~gone~~ but `*not* code` a_b_c"),
        ("try ```x &lt; 3 &amp;&amp; *p```", "try\n```\nx < 3 && *p\n```"),
        ("• one\n• two", "- one\n- two"),
        ("mail <mailto:a@b.com|a@b.com>", "mail a@b.com"),
    ],
)
def test_mrkdwn_to_markdown(mrkdwn, markdown):
    assert slack_export.mrkdwn_to_markdown(mrkdwn, {"U1": "Tim"}) == markdown


# --- shared helpers and detection ------------------------------------------------------------------------------


def test_api_names_in_order_of_appearance():
    assert api_names("Calling KeWaitForSingleObject at DISPATCH_LEVEL from EvtIoRead; Example Kernel Post",
                     "then IRP_MJ_READ, IOCTL_USB_GET_NODE_INFORMATION and KeWaitForSingleObject again") == (
        "KeWaitForSingleObject", "DISPATCH_LEVEL", "EvtIoRead", "IRP_MJ_READ", "IOCTL_USB_GET_NODE_INFORMATION")


@pytest.mark.parametrize(
    ("html", "markdown"),
    [
        ('<p>a <a href="/t/x/1">link</a></p>', "a [link](https://site.test/t/x/1)"),
        ('<p><a href="javascript:alert(1)">x</a></p>', "x"),
        ("<ol><li>one</li><li>two</li></ol>", "1. one\n2. two"),
        ("<h2>Fix</h2><p>text</p>", "## Fix\n\ntext"),
        ("<p>a<br>b</p><hr><p>c</p>", "a\nb\n\n---\n\nc"),
        ("<table><tr><th>IRQL</th></tr><tr><td>2</td></tr></table>", "| IRQL |\n|---|\n| 2 |"),
        ("<script>x()</script><p>kept</p>", "kept"),
        ("<p>unclosed <b>bold", "unclosed **bold**"),
        ('<ol start="\u00b2"><li>x</li></ol><ol start="3"><li>y</li></ol>', "1. x\n\n3. y"),
        ("<div>" * 500 + "deep" + "</div>" * 500, "deep"),
    ],
)
def test_html_to_markdown(html, markdown):
    assert html_to_markdown(html, "https://site.test") == markdown


def test_thread_without_author_keys_keeps_every_reply_separate():
    posts = [Post(ref=i, author=None, author_key=None, body=f"text {i}", label=f"post {i}") for i in (1, 2, 3)]
    records = list(thread_records(Thread(title="Q", posts=posts)))
    assert [r.locator["answer"] for r in records] == [[2], [3]]
    assert records[0].answer.startswith("**anonymous** (post 2):")


FIXTURES = {
    "discourse_topic.json": discourse,
    "discourse_list.json": discourse,
    "ntdev.mbox": mbox,
    "Posts.xml": stackexchange,
    SLACK_DAY: slack_export,
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_looks_like_recognises_only_its_own_format(name):
    text = read(name)
    assert [m.__name__ for m in (discourse, mbox, stackexchange, slack_export) if m.looks_like(text)] == [
        FIXTURES[name].__name__]


# --- property tests: any input gives records or ParseError, never another exception ----------------------------

PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def consume(module, text: str, path: str = "chan/2024-01-01.json") -> None:
    try:
        records = list(module.parse(text, SourceDoc(path=path, kind="export")))
    except ParseError as exc:
        assert str(exc)
        return
    assert isinstance(records[0], SourceMeta)
    assert all(isinstance(r, (Pair, OpenQuestion)) for r in records[1:])


@st.composite
def mutated_json(draw, base: object) -> str:
    """The fixture with one to three values, anywhere in it, replaced by arbitrary JSON."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        parent, key, node = None, None, doc
        for _ in range(draw(st.integers(0, 6))):
            if isinstance(node, dict) and node:
                key = draw(st.sampled_from(sorted(node)))
            elif isinstance(node, list) and node:
                key = draw(st.integers(0, len(node) - 1))
            else:
                break
            parent, node = node, node[key]
        value = draw(JSON_VALUES)
        if parent is None:
            doc = value
        else:
            parent[key] = value
    return json.dumps(doc)


@PROPERTY
@given(st.text(max_size=300))
def test_every_parser_survives_arbitrary_text(text):
    for module in (discourse, mbox, stackexchange, slack_export):
        consume(module, text)


@PROPERTY
@given(mutated_json(json.loads(read("discourse_topic.json"))))
def test_discourse_survives_mutated_topics(text):
    consume(discourse, text)


@PROPERTY
@given(mutated_json(json.loads(read(SLACK_DAY))))
def test_slack_survives_mutated_day_files(text):
    consume(slack_export, text)


SAFE_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)
ROW = st.dictionaries(
    st.sampled_from(["Id", "PostTypeId", "ParentId", "AcceptedAnswerId", "Score", "Body", "Title", "Tags",
                     "OwnerDisplayName", "OwnerUserId", "CreationDate"]),
    st.one_of(st.integers(-3, 5).map(str), SAFE_TEXT, st.just("<p>IoCallDriver <code>x</code></p>")),
)


@PROPERTY
@given(st.lists(ROW, max_size=6))
def test_stackexchange_survives_arbitrary_rows(rows):
    body = "".join("<row " + " ".join(f"{k}={quoteattr(v)}" for k, v in row.items()) + " />" for row in rows)
    consume(stackexchange, f"<posts>{body}</posts>")


HEADER = st.sampled_from(["From", "Subject", "Message-ID", "In-Reply-To", "References", "Date", "Content-Type",
                          "Content-Transfer-Encoding", "List-Id"])


@PROPERTY
@given(st.lists(st.tuples(st.lists(st.tuples(HEADER, SAFE_TEXT), max_size=5), st.text(max_size=80)), max_size=4))
def test_mbox_survives_arbitrary_messages(messages):
    chunks = []
    for headers, body in messages:
        lines = [f"{name}: {value}" for name, value in headers]
        chunks.append("From someone Mon Jan  1 00:00:00 2024\n" + "\n".join(lines) + "\n\n" + body + "\n")
    consume(mbox, "\n".join(chunks))
