"""Chain-of-thought arithmetic over Z_p (Feng et al. 2023; docs/method.md#arithmetic).

An expression over ``Z_p`` (``p`` prime, default 11) uses the numbers ``0..p-1`` and the
operators ``+ - * /`` (``a / b`` is the ``c`` with ``b * c = a mod p``) with the usual precedence
and brackets. ``L`` is the number of operators.

**Generation** (the reference's process, written afresh): start from a uniform answer; ``L``
times, pick a uniform number token ``x`` of the current expression and replace it by a binary
expression ``n1 op n2`` with value ``x`` (``op`` and ``n1`` uniform, ``n2`` solved for, drawn from
exactly the law of the reference's rejection loop, see :func:`expansion_table`), adding brackets
only where the reference's rule says precedence needs them (:func:`needs_brackets`, which looks at
the tokens on either side of ``x``). The chain of thought is that history reversed, so each step
undoes one expansion: it evaluates one operation on two numbers (the reference sometimes reduces
``1 + 3`` inside ``10 + 1 + 3``, valid because ``+`` associates).

**Formats** (``fmt``); words are joined by single spaces, tokens end with ``<eos>``:

- ``feng`` (the reference chain)::

      ( 2 + 7 ) * 6 - 3 = 9 * 6 - 3 = 10 - 3 = 7

  segments ``( 2 + 7 ) * 6 - 3 =`` | ``9 * 6 - 3 =`` | ``10 - 3 =`` | ``7 <eos>``: each expression
  closed by ``=``, the answer closed by ``<eos>``. Segment lengths grow with ``L`` (the question
  has about 2L+1 tokens plus brackets), total length about L^2.
- ``direct``: ``( 2 + 7 ) * 6 - 3 = 7`` (question, ``=``, answer).
- ``steps`` (bipe's bounded-segment chain): the question, then one segment per operation in the
  canonical order, each writing only that operation, and the value of the previous operation
  opening the next segment::

      ( 2 + 7 ) * 6 - 3 = 2 + 7 = 9 9 * 6 = 10 10 - 3 = 7

  segments ``( 2 + 7 ) * 6 - 3 =`` | ``2 + 7 =`` | ``9 9 * 6 =`` | ``10 10 - 3 =`` | ``7 <eos>``.
  The canonical order is the post-order of the question's standard parse tree (``* /`` bind
  tighter than ``+ -``, all left-associative), which is also "the leftmost operation whose
  operands are both numbers and that precedence allows next". Operands are numbers of the
  question or values of earlier steps. Every step segment has at most 5 tokens whatever ``L``;
  the number of segments is ``L + 2``; only the question segment grows with ``L``. The answer is
  the token before ``<eos>``, as in ``feng``, and the prompt ends at the first ``=``.

**Token ids** (the reference's): ``<pad>``=0, ``<cls>``=1, ``<eos>``=2, ``+ - * / ( ) =`` = 3..9,
numbers ``0..p-1`` = ``10..10+p-1`` (:func:`vocab`, ``ARITH_VOCAB`` for p=11). Separators are
``=`` (9) and ``<eos>`` (2). A run may segment the chains at an inner level too
(``data.separator_rule``, :data:`SEPARATOR_RULES`, :func:`separator_levels`): ``operators``
makes each of ``+ - * /`` close an inner unit inside the ``=`` segments (for ``hbipe``); the
data never changes.

**Records** (dicts): ``text`` (words, no ``<eos>``), ``tokens`` (ids + ``<eos>``), ``seg``,
``intra`` (docs/method.md#positions over the separators), ``answer`` (int), ``n_operators`` (of the
question), ``prompt_len`` (tokens up to and including the first ``=``)::

    >>> rec = make_record([7, 12, 3, 17, 8, 5, 16, 4, 13, 9, 19, 5, 16, 4, 13, 9,
    ...                    20, 4, 13, 9, 17, 2], 11)
    >>> rec["text"]
    '( 2 + 7 ) * 6 - 3 = 9 * 6 - 3 = 10 - 3 = 7'
    >>> rec["seg"][:11], rec["prompt_len"], rec["answer"], rec["n_operators"]
    ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 10, 7, 3)

A dataset's ``meta.json`` (written by ``bipe gen arith``) holds ``generator`` ("arith"),
``arith_format`` (the format above; ``format`` is taken by the dataset layer for jsonl/npz),
``modulus``, ``vocab``, ``separators`` ([9, 2]), ``config`` and ``seed``.

**Verification** (:func:`verify_record`): the text is single-spaced known words and the tokens,
``seg``, ``intra``, ``prompt_len``, ``answer`` and ``n_operators`` follow from it; the question
parses, has at least one operator and only the brackets the generator writes; the answer is the
question's value (evaluated independently of the chain); ``feng``: exactly L steps, each undoing
one generator expansion (a single value-preserving reduction with the bracket rule); ``steps``:
equal to the canonical steps re-derived from the question; ``direct``: one ``=``.

**API**: :func:`sample_arithmetic` (the chains as one :class:`ArithBatch` of concatenated
arrays: ``tokens``, ``offsets``, ``prompt_len``, ``n_operators``, and ``seg``/``intra`` from
:meth:`ArithBatch.positions`; what tasks consume) and :func:`iter_batches` (a stream of
batches), :func:`generate_arithmetic` (list of records) and :func:`iter_arithmetic` (a stream,
with the reference's ``--under`` quotas, deduplication and exclusion); the records are a view
of the batches (:func:`batch_records`), one implementation. :func:`vocab`,
:func:`parse`, :func:`evaluate`, :func:`canonical_steps`, :func:`make_record`,
:func:`verify_record` (``None`` or the reason a record is invalid) and :func:`verify_text`.

**Modules**: :mod:`~bipe.synthetic.arithmetic.vocabulary` (token ids, words),
:mod:`~bipe.synthetic.arithmetic.parser` (parse, evaluate, canonical steps, the bracket rule),
:mod:`~bipe.synthetic.arithmetic.batch` (the batch and its records),
:mod:`~bipe.synthetic.arithmetic.chain` (expansions, formats, one record),
:mod:`~bipe.synthetic.arithmetic.generate` (operator counts, chunked streams, quotas,
deduplication) and :mod:`~bipe.synthetic.arithmetic.verify`; every public name is importable
from this package.
"""

from __future__ import annotations

from bipe.synthetic.arithmetic.batch import ArithBatch, batch_records, ragged_positions
from bipe.synthetic.arithmetic.chain import (
    expand,
    expansion_table,
    format_ids,
    make_record,
    steps_ids,
)
from bipe.synthetic.arithmetic.generate import (
    generate_arithmetic,
    iter_arithmetic,
    iter_batches,
    n_distinct_chains,
    operator_dist,
    question_of,
    sample_arithmetic,
    under_quotas,
)
from bipe.synthetic.arithmetic.parser import (
    apply,
    bracket_problem,
    canonical_steps,
    evaluate,
    needs_brackets,
    parse,
)
from bipe.synthetic.arithmetic.verify import (
    chain_problem,
    is_reduction,
    meta_problem,
    verify_record,
    verify_text,
)
from bipe.synthetic.arithmetic.vocabulary import (
    ARITH_VOCAB,
    CLOSE,
    CLS,
    DIVIDE,
    EOS,
    EQUALS,
    FORMATS,
    LOW,
    MINUS,
    NUM0,
    OPEN,
    OPERATORS,
    PAD,
    PLUS,
    SEPARATOR_RULES,
    SEPARATORS,
    TIMES,
    check_modulus,
    ids_to_text,
    is_prime,
    separator_levels,
    vocab,
    words_to_ids,
)

SUBMODULES = ("vocabulary", "parser", "batch", "chain", "generate", "verify")

__all__ = [
    "ARITH_VOCAB",
    "ArithBatch",
    "CLOSE",
    "CLS",
    "DIVIDE",
    "EOS",
    "EQUALS",
    "FORMATS",
    "LOW",
    "MINUS",
    "NUM0",
    "OPEN",
    "OPERATORS",
    "PAD",
    "PLUS",
    "SEPARATORS",
    "SEPARATOR_RULES",
    "TIMES",
    "apply",
    "batch_records",
    "bracket_problem",
    "canonical_steps",
    "chain_problem",
    "check_modulus",
    "evaluate",
    "expand",
    "expansion_table",
    "format_ids",
    "generate_arithmetic",
    "ids_to_text",
    "is_prime",
    "is_reduction",
    "iter_arithmetic",
    "iter_batches",
    "make_record",
    "meta_problem",
    "n_distinct_chains",
    "needs_brackets",
    "operator_dist",
    "parse",
    "question_of",
    "ragged_positions",
    "sample_arithmetic",
    "separator_levels",
    "steps_ids",
    "under_quotas",
    "verify_record",
    "verify_text",
    "vocab",
    "words_to_ids",
]
