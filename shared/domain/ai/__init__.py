"""The governed AI review, pure: bounds, the answer's schema and checks, the prompt, the record.

Why a package of its own: a model's answer is untrusted input that may change how money
is traded, so everything that decides whether an answer is usable lives here, free of
I/O, and is tested on its own (``tests/unit/test_ai_review_domain.py``). The service
(``shared.services.ai_review``) only calls the model, these checks, and the store.

- :mod:`.bounds`: which parameters a review may touch, their range and largest step;
- :mod:`.answer`: the strict JSON schema of an answer and the checks that turn the text
  into an accepted candidate or a list of precise reasons;
- :mod:`.prompt`: the deterministic review prompt from trades, metrics and indicators;
- :mod:`.suggestion`: the stored record of one review (or local-advisor run).
"""
