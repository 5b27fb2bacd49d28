"""The demo shop's support questions with the right answer and a plausible wrong one: the
simulator answers from them (scripted quality) and the demo's eval suite grades against them."""

from __future__ import annotations

from typing import Any

#: How often the scripted provider answers right, and how much more it writes when the system
#: prompt asks for thoroughness (support-reply v2 does).
CORRECT_RATE = 0.85
THOROUGH_VERBOSITY = 1.5

#: (question, right answer, wrong answer)
SUPPORT_QA: tuple[tuple[str, str, str], ...] = (
    (
        "How do I get a refund?",
        "Open Orders, choose the order and press Refund; the money is back within 5 days.",
        "Refunds are only possible by calling the head office on weekdays.",
    ),
    (
        "Where is my parcel?",
        "Open Orders and press Track parcel to see the carrier's latest scan.",
        "Parcels cannot be tracked once they leave the warehouse.",
    ),
    (
        "How do I change my delivery address?",
        "Before dispatch, open the order and press Edit address; "
        "after dispatch contact the carrier.",
        "Addresses can never be changed after checkout.",
    ),
    (
        "How do I reset my password?",
        "Press Forgot password on the sign-in page and follow the link we email you.",
        "Create a new account; passwords cannot be reset.",
    ),
    (
        "Can I cancel my order?",
        "Yes, until it is dispatched: open the order and press Cancel order.",
        "Orders are final and cannot be cancelled.",
    ),
    (
        "Which payment methods do you accept?",
        "Cards, PayPal and bank transfer; choose one at checkout.",
        "We accept cash on delivery only.",
    ),
    (
        "How long does shipping take?",
        "Standard shipping takes 2 to 4 working days, express ships next day.",
        "Shipping always takes three weeks.",
    ),
    (
        "Do you ship abroad?",
        "Yes, to the EU, the UK and Switzerland; rates are shown at checkout.",
        "We only ship within the country.",
    ),
    (
        "How do I return an item?",
        "Open Orders, press Return item, print the label and drop the parcel at any post office.",
        "Returns must be brought to our warehouse in person.",
    ),
    (
        "My item arrived damaged, what now?",
        "Open the order, press Report a problem and add a photo; we send a replacement at once.",
        "Damaged items are the carrier's problem, please contact them.",
    ),
    (
        "How do I use a discount code?",
        "Enter the code in the Discount field at checkout and press Apply.",
        "Discount codes are applied automatically after delivery.",
    ),
    (
        "Can I change the size of my order?",
        "Before dispatch, cancel the item and order the new size; after delivery use Return item.",
        "Sizes cannot be changed once ordered.",
    ),
    (
        "How do I delete my account?",
        "Open Settings, Privacy, and press Delete account; it is removed within 30 days.",
        "Accounts are kept forever by law.",
    ),
    (
        "Where do I find my invoice?",
        "Open Orders, choose the order and press Download invoice.",
        "Invoices are sent by post only.",
    ),
    (
        "Is my payment secure?",
        "Yes, payments are encrypted and card details never reach our servers.",
        "Card numbers are stored in plain text for faster checkout.",
    ),
    (
        "How do I contact a human?",
        "Use the chat button and type agent, or call the support line from 8 to 20 on weekdays.",
        "There is no way to reach a person.",
    ),
    (
        "Do you offer gift wrapping?",
        "Yes, tick Gift wrap at checkout for 3 euros per item.",
        "Gift wrapping is not available.",
    ),
    (
        "Can I pay in instalments?",
        "Yes, choose Pay in 3 at checkout for orders over 50 euros.",
        "Instalments are only for business customers.",
    ),
    (
        "Why was my card declined?",
        "Check the card's expiry date and limit, or ask your bank; then retry at checkout.",
        "Declined cards are blocked by us for a month.",
    ),
    (
        "How do I subscribe to the newsletter?",
        "Enter your email in the footer and confirm the link we send you.",
        "The newsletter is only for members of the loyalty club.",
    ),
    (
        "How do I unsubscribe from emails?",
        "Press Unsubscribe at the bottom of any email, or switch emails off in Settings.",
        "You cannot stop our emails once subscribed.",
    ),
    (
        "Do you have a loyalty program?",
        "Yes, every euro spent earns one point; 100 points give a 5 euro voucher.",
        "Loyalty points expire every night.",
    ),
    (
        "Can I pick up my order in a store?",
        "Yes, choose Click and collect at checkout and bring the pickup code.",
        "Orders can only be delivered to your home.",
    ),
    (
        "What is your warranty?",
        "Two years on every product; start a claim from the order with Report a problem.",
        "Products have no warranty.",
    ),
    (
        "How do I track a return?",
        "Open Returns and press Track return to see when we received it.",
        "Returns cannot be tracked.",
    ),
    (
        "When will I get my refund after a return?",
        "Within 5 days of the return reaching our warehouse, to the original payment method.",
        "Refunds for returns are paid as store credit after 90 days.",
    ),
    (
        "Can I add an item to an existing order?",
        "No, place a second order; we combine shipping when both ship the same day.",
        "Call the warehouse and they will add it by hand.",
    ),
    (
        "Is there a student discount?",
        "Yes, verify your student email in Settings to get 10 percent off.",
        "Students pay a surcharge.",
    ),
    (
        "How do I update my card details?",
        "Open Settings, Payment methods, and press Add card or Remove.",
        "Card details are fixed after the first order.",
    ),
    (
        "What if I am not home for the delivery?",
        "The carrier leaves a card and tries again the next day, or you pick it up at the depot.",
        "The parcel goes back to us and the order is cancelled.",
    ),
)


def sim_quality() -> dict[str, Any]:
    """The OpenAI-shaped simulator's ``sim.quality`` block: these answers, mostly right."""
    return {
        "answers": [
            {"match": {"exact": question}, "answer": right, "wrong": wrong}
            for question, right, wrong in SUPPORT_QA
        ],
        "correct_rate": CORRECT_RATE,
        "effects": [{"when": "(?i)thorough", "verbosity": THOROUGH_VERBOSITY}],
    }
