"""Measuring dayone: retrieval_eval.py is `dayone eval` (pinned real codebases, hand-written questions, BM25 and
llama-index baselines in the same run); see docs/retrieval.md."""
