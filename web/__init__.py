"""The status page and PWA: the board of runs, a run's live log, what waits for a person, the
queues and the audit log, served by ``gluon serve`` at ``/``. Imports core only; it acts
through the tools the composition root hands it (see :mod:`web.app`)."""
