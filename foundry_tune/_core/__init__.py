"""The pure core: every decision foundry-tune makes without I/O, shared by the sync and async flavours.

Settings, the retry policy's decisions, error translation, job and deployment state, event parsing,
paging guards, the job description a builder holds, upload naming, sweep ranking and the polling
schedule. Nothing here opens a connection, sleeps or imports a network SDK client; both network
flavours (``foundry_tune._async`` and the generated ``foundry_tune._sync``) import it.
"""
