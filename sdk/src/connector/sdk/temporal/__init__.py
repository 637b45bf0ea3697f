"""Connectors on Temporal (connector-sdk's optional extra ``temporal``).

- ``activities.run_step``: one activity that runs any step of any installed connector and
  returns its envelope; an error envelope becomes a Temporal failure, non-retryable or
  retryable as its code says (RATE_LIMITED's retryAfterSeconds sets the next delay).
- ``activities.poll_and_hand_off``: a durable trigger's poll, each record started as its
  workflow.
- ``pushhost``: the worker's push hub (one thread for every push line of the worker):
  ``PollTrigger`` with ``"push": true`` leases its lines there and polls when the hub
  signals new mail; ``PushHubWatch`` tells its watchers when the worker dies.
- ``workflows.RunStep``: one step as a workflow (``run-step``); ``workflows.step()`` for
  your own workflows; ``workflows.PollTrigger``: a trigger as a durable poller handing each
  record to a child workflow you name.
- ``codec``: every payload encrypted (AES-GCM) by the client and the worker, so no
  connection, password or token reaches Temporal's history in the clear.
- ``worker``: the worker process (``connector worker``), with a session pool.

Not for connectors: a host of theirs, run by ``connector worker``. A connector never imports
it (an import contract checks the IMAP connector). Your own workflows may call
``workflows.step()`` and start ``workflows.PollTrigger`` by name (the README's "Run on
Temporal"); the rest may change in any release.
"""
