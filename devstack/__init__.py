"""The certmint local stack: dynalite, the private CA and two HTTPS servers.

``make run`` (or ``python -m devstack run``) starts, in one process:

- dynalite (a DynamoDB look-alike on Node) as a child in its own process
  group, persisted under ``$CERTMINT_HOME/db`` (:mod:`devstack.dynalite`);
- the private CA under ``$CERTMINT_HOME/ca`` and a server certificate for
  ``localhost`` and ``127.0.0.1`` (:mod:`devstack.tls`);
- the Chalice app behind an HTTPS stand-in for API Gateway
  (:mod:`devstack.api`);
- the static console over HTTPS (:mod:`devstack.console`).

:mod:`devstack.stack` wires them together and owns the shutdown. Nothing here
is deployed: in AWS, API Gateway, Lambda and DynamoDB take these places.
"""
