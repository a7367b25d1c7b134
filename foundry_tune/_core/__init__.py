"""The pure core: every decision foundry-tune makes without network I/O, shared by both flavours.

Settings, the retry policy's decisions, error translation, job and deployment state, event parsing,
paging guards, the job description a builder holds, upload naming, sweep ranking, the polling
schedule and the create-at-most-once decision. Nothing here opens a connection or sends a request;
both network flavours (``foundry_tune._async`` and the generated ``foundry_tune._sync``) import it.
Local work is allowed: reading and hashing a dataset, writing a progress line, and the blocking
``RetryPolicy.call`` (the sync flavour's retry runner, which sleeps with its injected ``sleep``).
"""
