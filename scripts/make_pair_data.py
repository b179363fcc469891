#!/usr/bin/env python3
"""Generate the project's own sentence-pair ranking data in data/demo/faq/ (committed; re-run to
regenerate, the output is the same for the same script).

FAQ matching for a bank's customer service: each example pairs a customer question (`question`)
with one candidate FAQ title (`faq`); `label` is `relevant` when the FAQ answers the question and
`irrelevant` otherwise; `query_id` groups the candidates of one question. Every question has 6
candidates: its FAQ, 2 FAQs of the same topic (hard negatives) and 3 of other topics.

Questions are written from templates per FAQ with slots (amounts, products, times, channels),
with a greeting or closing now and then, seeded, so paraphrases vary and dev/test questions are
new sentences; no question repeats within a template. Dev and test use the same
FAQs (an FAQ matcher is trained on the FAQs it serves) but questions from held-out templates,
so wording seen in train does not make the test easy.

Files: {train,dev,test}.jsonl, one JSON object per line:
{"query_id": "q0001", "question": "...", "faq": "...", "label": "relevant"}
"""
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "data" / "demo" / "faq"
rng = random.Random(20261202)

AMOUNT = ["50", "200", "1,000", "2,500", "15", "80", "500", "10,000"]
CARD = ["debit card", "credit card", "card", "bank card"]
WHEN = ["yesterday", "this morning", "last week", "two days ago", "on Friday", "today"]
CHANNEL = ["in the app", "online", "on the website", "through online banking"]

# topic -> [(faq title, [question templates: 3 for train, 1 for dev, 1 for test])]
FAQS = {
    "cards": [
        ("How do I report a lost or stolen card?", [
            "I lost my {card} {when}, what should I do?",
            "my {card} was stolen {when}",
            "someone took my wallet with my {card} in it",
            "can't find my {card} anywhere, how do I block it",
            "what do I do if my {card} is missing",
        ]),
        ("How do I activate my new card?", [
            "my new {card} arrived, how do I start using it",
            "how to activate a {card} {channel}",
            "the {card} you sent me doesn't work yet",
            "I received a replacement {card}, does it need activating",
            "where do I switch on my new {card}",
        ]),
        ("Why was my card payment declined?", [
            "my {card} got declined {when} at the shop",
            "payment of {amount} euros was refused on my {card}",
            "why does my {card} keep getting rejected",
            "the terminal said declined when I paid {amount} dollars",
            "my {card} didn't go through {when}",
        ]),
        ("How do I change my card PIN?", [
            "I want a new PIN for my {card}",
            "how can I reset the PIN of my {card}",
            "forgot the PIN of my {card}",
            "change my {card} pin {channel}",
            "can I pick a different PIN for my {card}",
        ]),
    ],
    "transfers": [
        ("How long does a bank transfer take?", [
            "I sent {amount} euros {when}, when will it arrive",
            "how many days until my transfer reaches the other bank",
            "transfer of {amount} dollars still not received",
            "when does money sent {channel} show up for the recipient",
            "is a transfer to another bank instant",
        ]),
        ("How do I cancel a transfer?", [
            "I sent {amount} euros to the wrong account, can I stop it",
            "cancel the payment I made {when}",
            "how to undo a transfer {channel}",
            "can I reverse a transfer of {amount} dollars",
            "I want to call back a payment I just sent",
        ]),
        ("What are the limits for transfers?", [
            "can I send {amount} euros in one go",
            "is there a maximum amount I can transfer per day",
            "my transfer of {amount} dollars was over the limit",
            "how much money can I move {channel} each day",
            "raise my daily transfer limit",
        ]),
        ("How do I send money abroad?", [
            "I need to send {amount} euros to my family in another country",
            "how do international transfers work",
            "send money to a bank outside the country {channel}",
            "what do I need to transfer {amount} dollars overseas",
            "can I pay someone abroad from my account",
        ]),
    ],
    "loans": [
        ("How do I apply for a personal loan?", [
            "I want to borrow {amount} euros",
            "how can I get a personal loan {channel}",
            "apply for a loan of {amount} dollars",
            "what do I need to take out a loan",
            "can I request credit for a new car",
        ]),
        ("How is my loan interest rate calculated?", [
            "why is the interest on my loan so high",
            "what rate will I pay on {amount} euros",
            "how do you decide the interest rate of a loan",
            "does my credit score change my loan rate",
            "explain the interest on my personal loan",
        ]),
        ("Can I repay my loan early?", [
            "I want to pay off my loan before the end",
            "is there a fee for early repayment",
            "can I pay back the remaining {amount} euros now",
            "settle my loan early {channel}",
            "what happens if I repay the loan ahead of schedule",
        ]),
        ("What happens if I miss a loan payment?", [
            "I couldn't pay my loan installment {when}",
            "missed a repayment of {amount} dollars, what now",
            "will I be charged if a loan payment is late",
            "my loan payment bounced {when}",
            "what if I can't make this month's loan payment",
        ]),
    ],
    "account": [
        ("How do I open a savings account?", [
            "I want to start saving, which account can I open",
            "open a savings account {channel}",
            "how do I put {amount} euros aside in a savings account",
            "can I get a separate account for savings",
            "what do I need to open a savings account",
        ]),
        ("How do I update my address?", [
            "I moved {when}, how do I change my address",
            "update my home address {channel}",
            "my address on the account is wrong",
            "where do I change the postal address you have",
            "new address, how do I tell the bank",
        ]),
        ("How do I close my account?", [
            "I want to close my account",
            "how can I shut down my account {channel}",
            "cancel my bank account and move {amount} euros out",
            "what is needed to end my account with you",
            "terminate my current account",
        ]),
        ("Why was I charged a monthly fee?", [
            "there's a fee of {amount} dollars on my statement",
            "why did you charge me {when}",
            "what is this monthly account charge",
            "I was billed a maintenance fee",
            "unexpected fee on my account this month",
        ]),
    ],
}


PREFIX = ["", "", "hi, ", "hello, ", "quick question: ", "please help, ", "hey "]
SUFFIX = ["", "", "?", " please", ", thanks", "!", " asap"]


def fill(template):
    text = template.format(amount=rng.choice(AMOUNT), card=rng.choice(CARD),
                           when=rng.choice(WHEN), channel=rng.choice(CHANNEL))
    return rng.choice(PREFIX) + text + rng.choice(SUFFIX)


def main():
    faqs = [(topic, title, templates) for topic, items in FAQS.items()
            for title, templates in items]
    splits = {"train": [], "dev": [], "test": []}
    # (split, template indices, questions per template)
    plan = [("train", [0, 1, 2], 6), ("dev", [3], 4), ("test", [4], 4)]
    qid = 0
    for split, which, per_template in plan:
        for topic, title, templates in faqs:
            for t in which:
                # Distinct questions only: a template with few slots gives fewer of them.
                questions = []
                for _ in range(50):
                    q = fill(templates[t])
                    if q not in questions:
                        questions.append(q)
                    if len(questions) == per_template:
                        break
                for question in questions:
                    qid += 1
                    same = [f for f in faqs if f[0] == topic and f[1] != title]
                    other = [f for f in faqs if f[0] != topic]
                    cands = [title] + [f[1] for f in rng.sample(same, 2)] + \
                        [f[1] for f in rng.sample(other, 3)]
                    rng.shuffle(cands)
                    for c in cands:
                        splits[split].append({
                            "query_id": f"q{qid:04d}", "question": question, "faq": c,
                            "label": "relevant" if c == title else "irrelevant"})
    ROOT.mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        with open(ROOT / f"{split}.jsonl", "w", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(split, len(rows), "pairs", len({r["query_id"] for r in rows}), "questions")


if __name__ == "__main__":
    main()
