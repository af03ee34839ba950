"""What every streaming endpoint records once its stream ends: the token times, the longest gap,
the end of the response, and the output count and time per token of a stream without usage.

The streaming parsers keep a few integers per response while they read (the arrival of the
first generated token, of the first answer token and of the latest token, the longest gap
between two token reads, how many content and reasoning chunks came) and hand them here in a
``finally``, so the per-chunk work stays a couple of comparisons and the definitions live in
one place:

- ``time_to_first_token``: the first generated token of any kind (a streamed reasoning delta
  counts: the model is generating), ``time_to_first_content_token`` the first visible answer
  token, ``time_to_last_token`` the last token of either kind, ``time_to_end`` the last byte
  of the response (usage chunk and terminator included: what other tools call the request's
  end);
- ``max_inter_token_latency``: the longest gap between two network reads that carried tokens
  (chunks in one read share its arrival time, so their gap is 0);
- a stream that reports no usage gets ``num_tokens_output`` = the content and reasoning
  chunks it streamed (source ``stream``; exact for servers that send one token per chunk);
- ``time_per_output_token`` (and ``inter_token_latency``): the first-to-last token span over
  the gaps between the tokens actually streamed in it. Reasoning tokens the usage reports but
  the stream never showed (hidden reasoning) are not in the denominator; streamed ones are.
"""

from __future__ import annotations

from ..response import STREAM, InvocationResponse

__all__ = ["record_stream_times", "record_stream_tokens", "streamed_tokens"]


def record_stream_times(
    out: InvocationResponse,
    start_ns: int,
    first_ns: int,
    first_content_ns: int,
    last_ns: int,
    max_gap_ns: int,
    tokens: int,
    end_ns: int,
) -> None:
    """Times of a stream read so far (``*_ns`` from ``perf_counter_ns``, 0 where not seen);
    ``tokens`` is how many chunks carried tokens (content and reasoning)."""
    if first_ns:
        out.time_to_first_token = (first_ns - start_ns) / 1e9
        out.time_to_last_token = (last_ns - start_ns) / 1e9
        if tokens > 1:
            out.max_inter_token_latency = max_gap_ns / 1e9
    if first_content_ns:
        out.time_to_first_content_token = (first_content_ns - start_ns) / 1e9
    if end_ns:
        out.time_to_end = (end_ns - start_ns) / 1e9


def streamed_tokens(out: InvocationResponse, reasoning_chunks: int) -> int | None:
    """Output tokens that streamed: the count less the reasoning tokens the stream never showed."""
    n_out = out.num_tokens_output
    if n_out is None:
        return None
    hidden = (out.num_tokens_output_reasoning or 0) - reasoning_chunks
    return n_out - hidden if hidden > 0 else n_out


def record_stream_tokens(out: InvocationResponse, content_chunks: int, reasoning_chunks: int) -> None:
    """The output count of a stream without usage (its chunks, source ``stream``) and the time
    per output token over the tokens that streamed. Call it after ``record_stream_times``."""
    if out.num_tokens_output is None and (content_chunks or reasoning_chunks):
        out.num_tokens_output = content_chunks + reasoning_chunks
        out.num_tokens_output_source = STREAM
        if reasoning_chunks and out.num_tokens_output_reasoning is None:
            out.num_tokens_output_reasoning = reasoning_chunks
    first, last = out.time_to_first_token, out.time_to_last_token
    n = streamed_tokens(out, reasoning_chunks)
    if first is not None and last is not None and n is not None and n > 1:
        out.time_per_output_token = out.inter_token_latency = (last - first) / (n - 1)
